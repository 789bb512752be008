import type { Knex } from 'knex';

/**
 * LTI 1.3: the learning platforms a tenant registered; the launches under way (state and nonce,
 * single use); the platform identities of the accounts launches made (by registration, so a
 * platform trusts only its own key set for its own people); and each person's lab for a course.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create table lti_platforms (
      id uuid primary key default gen_random_uuid(),
      tenant_id uuid not null references tenants(id) on delete cascade,
      issuer text not null,
      client_id text not null,
      deployment_id text not null,
      authorization_url text not null,
      key_set_url text not null,
      created_at timestamptz not null default now(),
      unique (issuer, client_id, deployment_id)
    )
  `);
  await knex.raw('create index lti_platforms_tenant_idx on lti_platforms (tenant_id)');
  await knex.raw(`
    create table lti_launch_states (
      state_hash text primary key,
      issuer text not null,
      client_id text not null,
      nonce text not null,
      expires_at timestamptz not null
    )
  `);
  await knex.raw(`
    create table lti_accounts (
      platform_id uuid not null references lti_platforms(id) on delete cascade,
      subject text not null,
      user_id uuid not null references users(id) on delete cascade,
      primary key (platform_id, subject)
    )
  `);
  await knex.raw(`
    create table lti_course_labs (
      platform_id uuid not null references lti_platforms(id) on delete cascade,
      context_id text not null,
      user_id uuid not null references users(id) on delete cascade,
      vm_id uuid not null references vms(id) on delete cascade,
      primary key (platform_id, context_id, user_id)
    )
  `);
}
