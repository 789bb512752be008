import type { Knex } from 'knex';

/**
 * What server replicas on one database share instead of keeping in memory: console tickets (by
 * the hash of the ticket), the console sockets each replica holds open (who is connected), failed
 * sign-ins for throttling, the replicas themselves (a heartbeat, so the sockets of a replica that
 * died stop counting), and the session secret.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create table server_replicas (
      id text primary key,
      seen_at timestamptz not null default now()
    )
  `);
  await knex.raw(`
    create table console_tickets (
      ticket_hash text primary key,
      user_id uuid not null references users(id) on delete cascade,
      vm_id uuid not null references vms(id) on delete cascade,
      kind text not null check (kind in ('serial', 'vnc')),
      mode text not null check (mode in ('interactive', 'view')),
      expires_at timestamptz not null
    )
  `);
  await knex.raw(`
    create index console_tickets_user on console_tickets (user_id, expires_at)
  `);
  await knex.raw(`
    create table console_connections (
      id uuid primary key default gen_random_uuid(),
      replica_id text not null references server_replicas(id) on delete cascade,
      user_id uuid not null references users(id) on delete cascade,
      vm_id uuid not null references vms(id) on delete cascade,
      kind text not null check (kind in ('serial', 'vnc')),
      mode text not null check (mode in ('interactive', 'view')),
      opened_at timestamptz not null default now()
    )
  `);
  await knex.raw(`
    create index console_connections_vm on console_connections (vm_id)
  `);
  await knex.raw(`
    create index console_connections_user on console_connections (user_id)
  `);
  await knex.raw(`
    create table sign_in_failures (
      key text not null,
      at timestamptz not null
    )
  `);
  await knex.raw(`
    create index sign_in_failures_key on sign_in_failures (key, at)
  `);
  await knex.raw(`
    create table server_settings (
      name text primary key,
      value text not null
    )
  `);
}
