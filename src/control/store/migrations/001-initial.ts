// The first schema: every table the foundation names, even those later features fill.
import type { Kysely, Migration } from 'kysely';

export const initial: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('users')
      .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
      .addColumn('name', 'text', (c) => c.notNull().unique())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('password_hash', 'text')
      .addColumn('totp_secret', 'text')
      .addColumn('static_ipv4', 'text')
      .addColumn('static_ipv6', 'text')
      .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
    await db.schema
      .createTable('user_groups')
      .addColumn('user_id', 'integer', (c) =>
        c.notNull().references('users.id').onDelete('cascade'),
      )
      .addColumn('group_name', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('user_groups_pk', ['user_id', 'group_name'])
      .execute();
    await db.schema
      .createTable('certificates')
      .addColumn('serial', 'text', (c) => c.primaryKey())
      .addColumn('user_name', 'text')
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('subject', 'text', (c) => c.notNull())
      .addColumn('not_before', 'text', (c) => c.notNull())
      .addColumn('not_after', 'text', (c) => c.notNull())
      .addColumn('revoked_at', 'text')
      .execute();
    await db.schema
      .createIndex('certificates_user')
      .on('certificates')
      .column('user_name')
      .execute();
    await db.schema
      .createTable('sessions')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('user_name', 'text', (c) => c.notNull())
      .addColumn('protocol', 'text', (c) => c.notNull())
      .addColumn('remote', 'text', (c) => c.notNull())
      .addColumn('address4', 'text')
      .addColumn('address6', 'text')
      .addColumn('cipher', 'text')
      .addColumn('connected_at', 'text', (c) => c.notNull())
      .addColumn('ended_at', 'text')
      .addColumn('end_reason', 'text')
      .addColumn('bytes_in', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('bytes_out', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('rekeys', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
    await db.schema
      .createTable('audit')
      .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
      .addColumn('time', 'text', (c) => c.notNull())
      .addColumn('event', 'text', (c) => c.notNull())
      .addColumn('user_name', 'text')
      .addColumn('remote', 'text')
      .addColumn('result', 'text', (c) => c.notNull())
      .addColumn('reason', 'text')
      .addColumn('detail', 'text')
      .execute();
    await db.schema.createIndex('audit_time').on('audit').column('time').execute();
    await db.schema
      .createTable('accounting')
      .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
      .addColumn('session_id', 'text', (c) => c.notNull().unique())
      .addColumn('user_name', 'text', (c) => c.notNull())
      .addColumn('protocol', 'text', (c) => c.notNull())
      .addColumn('start', 'text', (c) => c.notNull())
      .addColumn('stop', 'text')
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addColumn('bytes_in', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('bytes_out', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('packets_in', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('packets_out', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
    await db.schema.createIndex('accounting_start').on('accounting').column('start').execute();
    await db.schema
      .createTable('meta')
      .addColumn('key', 'text', (c) => c.primaryKey())
      .addColumn('value', 'text', (c) => c.notNull())
      .execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    for (const t of [
      'meta',
      'accounting',
      'audit',
      'sessions',
      'certificates',
      'user_groups',
      'users',
    ]) {
      await db.schema.dropTable(t).execute();
    }
  },
};
