import type { Knex } from 'knex';

/**
 * Warm pools: per tenant, image and size, how many paused clones to keep ready. A pooled VM is a
 * VM row of its pool with no owner until a launch takes it; a VM has an owner or a pool, never both.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`create table pools (
    id uuid primary key default gen_random_uuid(),
    tenant_id uuid not null references tenants(id) on delete restrict,
    image_id uuid not null references images(id) on delete restrict,
    vcpus integer not null check (vcpus > 0),
    memory_mib integer not null check (memory_mib > 0),
    disk_gib integer not null check (disk_gib > 0),
    count integer not null check (count >= 0),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    unique (tenant_id, image_id, vcpus, memory_mib, disk_gib)
  )`);
  await knex.raw('alter table vms add column pool_id uuid references pools(id) on delete restrict');
  await knex.raw('alter table vms alter column owner_id drop not null');
  await knex.raw(
    'alter table vms add constraint vms_owner_or_pool check ((owner_id is null) = (pool_id is not null))',
  );
  await knex.raw('create index vms_pool_id_idx on vms (pool_id) where pool_id is not null');
  await knex.raw('alter table vms drop constraint vms_boot_path_check');
  await knex.raw(
    "alter table vms add constraint vms_boot_path_check check (boot_path in ('cold', 'template', 'pool', 'saved-state', 'snapshot'))",
  );
}
