// The text routes of the Worker, registered by index.ts:
//   POST /v1/models/:id[@:version]/generate   Server-Sent Events of tokens (generate.ts)
//   POST /v1/models/:id[@:version]/embed      unit vectors as JSON (embed.ts)
// Errors are thrown and become responses in index.ts's onError (errors.ts).
import type { Hono } from 'hono';
import type { Env } from './env.js';
import { HttpError } from './errors.js';
import type { ModelCache } from './cache.js';
import { handleGenerate } from './generate.js';
import { handleEmbed } from './embed.js';

export function registerTextRoutes(app: Hono<{ Bindings: Env }>, cache: ModelCache): void {
  app.post('/v1/models/:ref/generate', (c) => handleGenerate(c.req.raw, c.env, c.req.param('ref'), cache));
  app.post('/v1/models/:ref/embed', (c) => handleEmbed(c.req.raw, c.env, c.req.param('ref'), cache));
  for (const path of ['/v1/models/:ref/generate', '/v1/models/:ref/embed'])
    app.all(path, (c) => {
      throw new HttpError('method_not_allowed', `${c.req.method} is not allowed here (allowed: POST)`, { allow: 'POST' });
    });
}
