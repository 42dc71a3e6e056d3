// Table types for the query builder. Times are ISO-8601 strings in UTC, so the same queries run
// on SQLite and PostgreSQL; byte counters are integers.
import type { Generated } from 'kysely';

export interface UsersTable {
  id: Generated<number>;
  name: string;
  created_at: string;
  password_hash: string | null;
  totp_secret: string | null;
  static_ipv4: string | null;
  static_ipv6: string | null;
  disabled: Generated<number>;
}

export interface UserGroupsTable {
  user_id: number;
  group_name: string;
}

export interface CertificatesTable {
  serial: string;
  user_name: string | null;
  kind: 'ca' | 'server' | 'client';
  subject: string;
  not_before: string;
  not_after: string;
  revoked_at: string | null;
}

export interface SessionsTable {
  id: string;
  user_name: string;
  protocol: string;
  remote: string;
  address4: string | null;
  address6: string | null;
  cipher: string | null;
  connected_at: string;
  ended_at: string | null;
  end_reason: string | null;
  bytes_in: Generated<number>;
  bytes_out: Generated<number>;
  rekeys: Generated<number>;
}

export interface AuditTable {
  id: Generated<number>;
  time: string;
  event: string;
  user_name: string | null;
  remote: string | null;
  result: string;
  reason: string | null;
  detail: string | null;
}

export interface AccountingTable {
  id: Generated<number>;
  session_id: string;
  user_name: string;
  protocol: string;
  start: string;
  stop: string | null;
  updated_at: string;
  bytes_in: number;
  bytes_out: number;
  packets_in: number;
  packets_out: number;
}

export interface MetaTable {
  key: string;
  value: string;
}

export interface LeasesTable {
  address: string;
  family: number;
  user_name: string;
  session_id: string | null;
  updated_at: string;
}

export interface Database {
  users: UsersTable;
  user_groups: UserGroupsTable;
  certificates: CertificatesTable;
  sessions: SessionsTable;
  audit: AuditTable;
  accounting: AccountingTable;
  meta: MetaTable;
  leases: LeasesTable;
}
