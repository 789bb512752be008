import type { TenantRole } from '@labvisor/shared';
import type { Knex } from 'knex';
import { insertTenant, upsertMembership } from '../../src/db/queries/tenants.js';
import { insertUser } from '../../src/db/queries/users.js';
import { hashPassword } from '../../src/domain/auth/passwords.js';

/** The password every fixture user has. */
export const FIXTURE_PASSWORD = 'fixture-password-1';

let hashed: Promise<string> | undefined;

/** Creates a user, optionally a member of a tenant with a role. */
export async function createFixtureUser(
  knex: Knex,
  email: string,
  options: { tenantId?: string; role?: TenantRole; isPlatformAdmin?: boolean } = {},
) {
  hashed ??= hashPassword(FIXTURE_PASSWORD);
  const user = await insertUser(knex, {
    email,
    name: email.split('@')[0]!,
    passwordHash: await hashed,
    isPlatformAdmin: options.isPlatformAdmin ?? false,
  });
  if (options.tenantId) {
    await upsertMembership(knex, {
      tenantId: options.tenantId,
      userId: user.id,
      role: options.role ?? 'member',
    });
  }
  return user;
}

/** Creates a tenant. */
export async function createFixtureTenant(knex: Knex, name: string) {
  return insertTenant(knex, { name });
}
