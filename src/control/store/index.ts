export { openScratchStore, openStore, type Store, type Db } from './open.js';
export * from './audit.js';
export * from './accounting.js';
export { AccountingUpdates } from './accounting-updates.js';
export * from './users.js';
export * from './certificates.js';
export * from './meta.js';
export type { Database } from './schema.js';
