// The package version, once: the CLI's --version and the `producer` field of every .sparrow
// file written. test/structure.test.ts checks it against package.json.
export const VERSION = '0.1.0';
