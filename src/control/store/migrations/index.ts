// Versioned migrations, applied in name order. Add a file, never edit a landed one.
import type { Migration, MigrationProvider } from 'kysely';
import { initial } from './001-initial.js';

const all: Record<string, Migration> = {
  '001-initial': initial,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: () => Promise.resolve(all),
};
