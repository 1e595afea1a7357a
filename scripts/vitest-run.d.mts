/** The workerd test files a failed vitest run may run again, or null when anything else failed. */
export function poolStartOnly(text: string): string[] | null;
