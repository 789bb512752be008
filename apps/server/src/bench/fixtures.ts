import type { TenantRole } from '@labvisor/shared';
import type { Knex } from 'knex';
import { upsertMembership } from '../db/queries/tenants.js';
import { insertApiToken } from '../db/queries/tokens.js';
import { insertUser } from '../db/queries/users.js';
import { API_TOKEN_PREFIX } from '../domain/auth/api-tokens.js';
import { hashSecretToken, newSecretToken } from '../domain/auth/secret-tokens.js';

/** Creates a user in a tenant with a role and returns an API token for them (benchmarks only). */
export async function createTokenUser(
  knex: Knex,
  options: { tenantId: string; email: string; role: TenantRole },
): Promise<string> {
  const user = await insertUser(knex, {
    email: options.email,
    name: options.email.split('@')[0]!,
    passwordHash: null,
  });
  await upsertMembership(knex, { tenantId: options.tenantId, userId: user.id, role: options.role });
  const token = newSecretToken(API_TOKEN_PREFIX);
  await insertApiToken(knex, {
    userId: user.id,
    name: 'bench',
    tokenHash: hashSecretToken(token),
    expiresAt: null,
  });
  return token;
}
