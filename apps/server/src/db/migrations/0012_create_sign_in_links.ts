import type { Knex } from 'knex';

/**
 * One-time sign-in links: a roster import gives each new account one instead of a password sent
 * in clear. Only the token's sha256 is kept; a link works once, until it expires.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`create table sign_in_links (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null references users(id) on delete cascade,
    token_hash text not null unique,
    expires_at timestamptz not null,
    used_at timestamptz,
    created_by uuid references users(id) on delete set null,
    created_at timestamptz not null default now()
  )`);
}
