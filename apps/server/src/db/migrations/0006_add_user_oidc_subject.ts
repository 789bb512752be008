import type { Knex } from 'knex';

/**
 * The single sign-on identity a user is bound to (the provider's issuer and subject): the first
 * sign-in by verified email binds it, and later sign-ins find the user by it, so another provider
 * account that claims the same email cannot take the Labvisor account over.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('alter table users add column oidc_issuer text, add column oidc_subject text');
  await knex.raw(
    'create unique index users_oidc_identity_idx on users (oidc_issuer, oidc_subject) where oidc_subject is not null',
  );
}
