// Indexes for handing out a lease in constant time: "is this address someone's static one" and
// "how many leases does this family hold" must not read every row.
import type { Kysely, Migration } from 'kysely';

export const leaseIndexes: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.createIndex('users_static_ipv4').on('users').column('static_ipv4').execute();
    await db.schema.createIndex('users_static_ipv6').on('users').column('static_ipv6').execute();
    await db.schema
      .createIndex('leases_family_user')
      .on('leases')
      .columns(['family', 'user_name', 'session_id'])
      .execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropIndex('leases_family_user').execute();
    await db.schema.dropIndex('users_static_ipv6').execute();
    await db.schema.dropIndex('users_static_ipv4').execute();
  },
};
