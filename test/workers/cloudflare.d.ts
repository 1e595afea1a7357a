// The two virtual modules the workerd tests use (provided by @cloudflare/vitest-pool-workers);
// declared minimally so `tsc -p tsconfig.json` needs no Workers type package.
declare module 'cloudflare:workers' {
  export const env: Record<string, unknown>;
  export const exports: { default: { fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> } };
}
