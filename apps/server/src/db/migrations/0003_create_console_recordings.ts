import type { Knex } from 'knex';

/** Serial console recordings (asciicast v2 files), kept after the VM is gone. */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`create table console_recordings (
    id uuid primary key default gen_random_uuid(),
    tenant_id uuid not null references tenants(id) on delete cascade,
    vm_id uuid references vms(id) on delete set null,
    vm_name text not null,
    path text not null,
    viewers jsonb not null default '[]'::jsonb,
    size_bytes bigint not null default 0 check (size_bytes >= 0),
    started_at timestamptz not null default now(),
    ended_at timestamptz
  )`);
  await knex.raw(
    'create index console_recordings_vm_idx on console_recordings (vm_id, started_at desc)',
  );
  await knex.raw(
    'create index console_recordings_tenant_idx on console_recordings (tenant_id, started_at desc)',
  );
}
