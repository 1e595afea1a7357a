/**
 * Sparrow edge Worker (module syntax).
 *
 * For now only a health check: `GET /healthz` -> 200 `{"ok":true}`; anything else -> 404
 * with the standard JSON error envelope `{"error":{"code","message"}}`.
 *
 * Uses only Web-standard types (Request/Response/URL) so it type-checks with the
 * project's DOM lib and needs no @cloudflare/workers-types.
 */

const JSON_HEADERS = { "content-type": "application/json; charset=utf-8" } as const;

function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { ...JSON_HEADERS, ...headers } });
}

function errorResponse(status: number, code: string, message: string): Response {
  return json({ error: { code, message } }, status);
}

async function handleRequest(request: Request): Promise<Response> {
  const url = new URL(request.url);
  if (url.pathname === "/healthz") {
    if (request.method === "GET" || request.method === "HEAD") {
      return json({ ok: true }, 200, { "cache-control": "no-store" });
    }
    return new Response(
      JSON.stringify({ error: { code: "method_not_allowed", message: `${request.method} not allowed on /healthz` } }),
      { status: 405, headers: { ...JSON_HEADERS, allow: "GET, HEAD" } },
    );
  }
  return errorResponse(404, "not_found", `No route for ${request.method} ${url.pathname}`);
}

export default {
  async fetch(request: Request): Promise<Response> {
    try {
      return await handleRequest(request);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      return errorResponse(500, "internal", message);
    }
  },
};
