// Versioned migrations, applied in name order. Add a file, never edit a landed one.
import type { Migration, MigrationProvider } from 'kysely';
import { initial } from './001-initial.js';
import { leases } from './002-leases.js';
import { leaseIndexes } from './003-lease-indexes.js';

const all: Record<string, Migration> = {
  '001-initial': initial,
  '002-leases': leases,
  '003-lease-indexes': leaseIndexes,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: () => Promise.resolve(all),
};
