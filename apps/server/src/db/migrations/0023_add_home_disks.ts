import type { Knex } from 'knex';

/**
 * Home disks: a tenant's size of each member's persistent home (0: none), and the homes made so
 * far (each counts its size in the tenant's diskGib; its file lives under the data directory).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(
    'alter table tenants add column home_disk_gib integer not null default 0 check (home_disk_gib between 0 and 1024)',
  );
  await knex.raw(`
    create table home_disks (
      tenant_id uuid not null references tenants(id) on delete cascade,
      user_id uuid not null references users(id) on delete cascade,
      size_gib integer not null check (size_gib > 0),
      created_at timestamptz not null default now(),
      primary key (tenant_id, user_id)
    )
  `);
}
