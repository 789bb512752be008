import type { Knex } from 'knex';

/**
 * Invite links: whoever has one joins its tenant with its role, while it is not revoked, expired
 * or used up, and their email is in its domains. Only the token's sha256 is kept.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`create table invites (
    id uuid primary key default gen_random_uuid(),
    tenant_id uuid not null references tenants(id) on delete cascade,
    token_hash text not null unique,
    role text not null check (role in ('member', 'instructor', 'admin')),
    expires_at timestamptz,
    max_uses integer check (max_uses > 0),
    uses integer not null default 0 check (uses >= 0),
    allowed_domains jsonb not null default '[]',
    created_by uuid references users(id) on delete set null,
    created_at timestamptz not null default now(),
    revoked_at timestamptz
  )`);
  await knex.raw('create index invites_tenant_id_idx on invites (tenant_id, created_at)');
}
