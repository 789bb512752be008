import type { Knex } from 'knex';
import { recordAudit } from '../../db/queries/audit.js';
import { insertTenant, upsertMembership } from '../../db/queries/tenants.js';
import { hasPlatformAdmin, insertUser } from '../../db/queries/users.js';
import { generatePassword, hashPassword } from '../auth/passwords.js';

/** The demo tenant a first start creates, so a new install has something to open. */
export const DEMO_TENANT_NAME = 'Demo lab';
/** The first admin's email when LABVISOR_ADMIN_EMAIL is unset. */
export const DEFAULT_ADMIN_EMAIL = 'admin@labvisor.local';

/** What the first start created; the generated password is shown once and never stored in clear. */
export interface FirstRunResult {
  adminEmail: string;
  generatedPassword: string | undefined;
}

/**
 * On a fresh database, creates the first platform admin and the demo tenant (with the admin as
 * its tenant admin), in one transaction. Does nothing when a platform admin exists.
 */
export async function seedFirstRun(
  knex: Knex,
  options: { adminEmail: string | undefined; adminPassword: string | undefined },
): Promise<FirstRunResult | undefined> {
  return knex.transaction(async (trx) => {
    if (await hasPlatformAdmin(trx)) return undefined;
    const email = options.adminEmail ?? DEFAULT_ADMIN_EMAIL;
    const generatedPassword = options.adminPassword ? undefined : generatePassword();
    const admin = await insertUser(trx, {
      email,
      name: 'Administrator',
      passwordHash: await hashPassword(options.adminPassword ?? generatedPassword!),
      isPlatformAdmin: true,
    });
    const tenant = await insertTenant(trx, { name: DEMO_TENANT_NAME });
    await upsertMembership(trx, { tenantId: tenant.id, userId: admin.id, role: 'admin' });
    await recordAudit(trx, {
      actorId: null,
      action: 'install.seeded',
      targetType: 'user',
      targetId: admin.id,
    });
    return { adminEmail: email, generatedPassword };
  });
}
