/** Postern's version, as `postern --version` and `postern status` report it. */
export const VERSION = '0.1.0';
