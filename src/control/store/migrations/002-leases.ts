// Address leases: which pool address belongs to which user, and which session holds it now.
// The address is the key, so no address can be handed out twice.
import type { Kysely, Migration } from 'kysely';

export const leases: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('leases')
      .addColumn('address', 'text', (c) => c.primaryKey())
      .addColumn('family', 'integer', (c) => c.notNull())
      .addColumn('user_name', 'text', (c) => c.notNull())
      .addColumn('session_id', 'text')
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('leases_user').on('leases').column('user_name').execute();
    await db.schema.createIndex('leases_session').on('leases').column('session_id').execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropTable('leases').execute();
  },
};
