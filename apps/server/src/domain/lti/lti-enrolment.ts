import { createHash } from 'node:crypto';
import type { TenantRole } from '@labvisor/shared';
import type { Knex } from 'knex';
import { isUniqueViolation } from '../../db/errors.js';
import { recordAudit } from '../../db/queries/audit.js';
import { findLtiAccountUser } from '../../db/queries/lti.js';
import { findUserByEmail, insertUser, type UserRow } from '../../db/queries/users.js';
import { AppError } from '../../errors.js';
import type { VerifiedLaunch } from './lti-launch.js';

/**
 * The Labvisor account and membership of a launching person. The account is the one this
 * registration's launches made for their `sub` (created on the first launch, with no password);
 * an existing account is never taken over by its email, since a platform vouches only for its
 * own people: when the email is taken, the new account gets an address under `lti.invalid`. The
 * membership is created with the role of the LTI roles claim; a member the platform now calls an
 * instructor is raised, and a role given in Labvisor is never lowered.
 */
export async function enrolLtiPerson(
  knex: Knex,
  launch: VerifiedLaunch,
  ip: string | undefined,
): Promise<{ user: UserRow; role: TenantRole }> {
  const user = await accountOf(knex, launch, ip);
  if (user.disabled) throw new AppError('FORBIDDEN', 'Your Labvisor account is disabled.');
  const tenantId = launch.platform.tenant_id;
  const member = await knex('memberships')
    .where({ tenant_id: tenantId, user_id: user.id })
    .first<{ role: TenantRole } | undefined>('role');
  if (member && (member.role !== 'member' || launch.role === 'member')) {
    return { user, role: member.role };
  }
  await knex('memberships')
    .insert({ tenant_id: tenantId, user_id: user.id, role: launch.role })
    .onConflict(['tenant_id', 'user_id'])
    .merge(['role']);
  await recordAudit(knex, {
    actorId: user.id,
    tenantId,
    action: member ? 'member.update' : 'member.add',
    targetType: 'user',
    targetId: user.id,
    ip,
    details: { via: 'lti', role: launch.role },
  });
  return { user, role: launch.role };
}

async function accountOf(
  knex: Knex,
  launch: VerifiedLaunch,
  ip: string | undefined,
): Promise<UserRow> {
  const platformId = launch.platform.id;
  const known = await findLtiAccountUser(knex, platformId, launch.subject);
  if (known) return (await knex<UserRow>('users').where({ id: known }).first())!;
  try {
    return await knex.transaction(async (trx) => {
      const emailFree = launch.email && !(await findUserByEmail(trx, launch.email));
      const email = emailFree ? launch.email! : placeholderEmail(platformId, launch.subject);
      const user = await insertUser(trx, {
        email,
        name: launch.name?.slice(0, 100) ?? email.split('@')[0]!,
        passwordHash: null,
      });
      await trx('lti_accounts').insert({
        platform_id: platformId,
        subject: launch.subject,
        user_id: user.id,
      });
      await recordAudit(trx, {
        actorId: user.id,
        action: 'user.create',
        targetType: 'user',
        targetId: user.id,
        ip,
        details: { via: 'lti', issuer: launch.platform.issuer, email },
      });
      return user;
    });
  } catch (error) {
    // Two first launches of one person at once: the other made the account.
    const made = isUniqueViolation(error)
      ? await findLtiAccountUser(knex, platformId, launch.subject)
      : undefined;
    if (!made) throw error;
    return (await knex<UserRow>('users').where({ id: made }).first())!;
  }
}

/** The address of an account whose platform sent no free email: unique, never deliverable. */
function placeholderEmail(platformId: string, subject: string): string {
  const digest = createHash('sha256').update(`${platformId}\n${subject}`).digest('hex');
  return `lti-${digest.slice(0, 20)}@lti.invalid`;
}
