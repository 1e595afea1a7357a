// Types of scripts/chromium.mjs for the TypeScript tests.
import type { Server } from 'node:http';
import type { BrowserContext } from 'playwright-core';

export declare const CHROMIUM: string;
export declare const HAVE_CHROMIUM: boolean;
export declare function launchChromium(options?: {
  viewport?: { width: number; height: number };
}): Promise<{ context: BrowserContext; close(): Promise<void> }>;
export declare function bundleBrowser(dir: string): Promise<void>;
export declare function serveFiles(
  files: Map<string, [string, string | Uint8Array]>,
  options?: { isolated?: boolean; refuse?: (path: string) => boolean },
): Promise<{ base: string; server: Server }>;
