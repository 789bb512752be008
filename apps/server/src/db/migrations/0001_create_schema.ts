import type { Knex } from 'knex';

/** The whole first model: tenants, quotas, users, memberships, tokens, sessions, images, VMs, snapshots, usage, audit. */
const STATEMENTS = [
  `create table tenants (
    id uuid primary key default gen_random_uuid(),
    name text not null unique check (length(name) between 1 and 64),
    recording_enabled boolean not null default false,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
  )`,
  `create table quotas (
    tenant_id uuid primary key references tenants(id) on delete cascade,
    running_vms integer not null check (running_vms >= 0),
    vcpus integer not null check (vcpus >= 0),
    memory_mib integer not null check (memory_mib >= 0),
    disk_gib integer not null check (disk_gib >= 0),
    snapshots integer not null check (snapshots >= 0),
    vm_hours_per_month integer not null check (vm_hours_per_month >= 0),
    updated_at timestamptz not null default now()
  )`,
  `create table users (
    id uuid primary key default gen_random_uuid(),
    email text not null unique check (email = lower(email) and position('@' in email) > 1),
    name text not null,
    password_hash text,
    is_platform_admin boolean not null default false,
    disabled boolean not null default false,
    created_at timestamptz not null default now(),
    last_login_at timestamptz
  )`,
  `create table memberships (
    tenant_id uuid not null references tenants(id) on delete cascade,
    user_id uuid not null references users(id) on delete cascade,
    role text not null check (role in ('member', 'instructor', 'admin')),
    limits jsonb,
    created_at timestamptz not null default now(),
    primary key (tenant_id, user_id)
  )`,
  'create index memberships_user_id_idx on memberships (user_id)',
  `create table api_tokens (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null references users(id) on delete cascade,
    name text not null,
    token_hash text not null unique,
    created_at timestamptz not null default now(),
    expires_at timestamptz,
    last_used_at timestamptz,
    revoked_at timestamptz
  )`,
  'create index api_tokens_user_id_idx on api_tokens (user_id)',
  `create table sessions (
    sid text primary key,
    user_id uuid references users(id) on delete cascade,
    data jsonb not null,
    expires_at timestamptz not null
  )`,
  'create index sessions_expires_at_idx on sessions (expires_at)',
  'create index sessions_user_id_idx on sessions (user_id)',
  `create table images (
    id uuid primary key default gen_random_uuid(),
    tenant_id uuid references tenants(id) on delete cascade,
    name text not null check (length(name) between 1 and 64),
    kind text not null check (kind in ('kernel', 'disk', 'iso')),
    format text not null check (format in ('qcow2', 'raw', 'iso')),
    path text not null,
    kernel_path text,
    initrd_path text,
    cmdline text,
    size_bytes bigint not null check (size_bytes >= 0),
    sha256 text not null check (sha256 ~ '^[0-9a-f]{64}$'),
    default_vcpus integer not null default 1 check (default_vcpus > 0),
    default_memory_mib integer not null default 256 check (default_memory_mib > 0),
    default_disk_gib integer not null default 1 check (default_disk_gib > 0),
    created_at timestamptz not null default now(),
    check (kind <> 'kernel' or (kernel_path is not null and initrd_path is not null))
  )`,
  // One name per tenant; global images (tenant_id null) share one namespace.
  `create unique index images_tenant_name_idx
    on images (coalesce(tenant_id, '00000000-0000-0000-0000-000000000000'::uuid), name)`,
  `create table vms (
    id uuid primary key default gen_random_uuid(),
    tenant_id uuid not null references tenants(id) on delete restrict,
    owner_id uuid not null references users(id) on delete restrict,
    image_id uuid not null references images(id) on delete restrict,
    name text not null check (length(name) between 1 and 64),
    vcpus integer not null check (vcpus > 0),
    memory_mib integer not null check (memory_mib > 0),
    disk_gib integer not null check (disk_gib > 0),
    desired_state text not null default 'stopped'
      check (desired_state in ('stopped', 'running', 'paused', 'suspended')),
    state text not null default 'stopped'
      check (state in ('stopped', 'starting', 'running', 'paused', 'suspended', 'stopping', 'crashed', 'error')),
    state_reason text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    started_at timestamptz,
    last_activity_at timestamptz,
    unique (tenant_id, name)
  )`,
  'create index vms_owner_id_idx on vms (owner_id)',
  'create index vms_image_id_idx on vms (image_id)',
  'create index vms_tenant_state_idx on vms (tenant_id, state)',
  `create table snapshots (
    id uuid primary key default gen_random_uuid(),
    vm_id uuid not null references vms(id) on delete cascade,
    name text not null check (length(name) between 1 and 64),
    with_memory boolean not null default false,
    parent_id uuid references snapshots(id) on delete set null,
    size_bytes bigint not null default 0 check (size_bytes >= 0),
    created_at timestamptz not null default now(),
    unique (vm_id, name)
  )`,
  `create table usage_intervals (
    id bigserial primary key,
    tenant_id uuid not null references tenants(id) on delete cascade,
    user_id uuid references users(id) on delete set null,
    vm_id uuid references vms(id) on delete set null,
    vcpus integer not null check (vcpus > 0),
    memory_mib integer not null check (memory_mib > 0),
    started_at timestamptz not null,
    ended_at timestamptz,
    check (ended_at is null or ended_at >= started_at)
  )`,
  'create index usage_intervals_tenant_started_idx on usage_intervals (tenant_id, started_at)',
  'create index usage_intervals_open_idx on usage_intervals (vm_id) where ended_at is null',
  `create table audit_log (
    id bigserial primary key,
    actor_id uuid references users(id) on delete set null,
    tenant_id uuid references tenants(id) on delete set null,
    action text not null,
    target_type text,
    target_id text,
    ip text,
    details jsonb not null default '{}'::jsonb,
    created_at timestamptz not null default now()
  )`,
  'create index audit_log_created_idx on audit_log (created_at desc)',
  'create index audit_log_tenant_created_idx on audit_log (tenant_id, created_at desc)',
];

/** Creates the first version of the schema. */
export async function up(knex: Knex): Promise<void> {
  for (const statement of STATEMENTS) await knex.raw(statement);
}
