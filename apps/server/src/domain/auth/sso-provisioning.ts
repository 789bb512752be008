import type { TenantRole } from '@labvisor/shared';
import { TENANT_ROLES } from '@labvisor/shared';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { recordAudit } from '../../db/queries/audit.js';
import { upsertMembership } from '../../db/queries/tenants.js';
import { insertUser, type UserRow } from '../../db/queries/users.js';

/** A rule that joins single sign-on users to a tenant: by their email's domain or a group claim. */
export interface JoinRule {
  match: { domain: string } | { group: string };
  /** The tenant, by name. */
  tenant: string;
  role: TenantRole;
}

/** What single sign-on may do with a first-time identity. */
export interface SsoProvisioning {
  /** A verified email with no account gets one (off by default). */
  createAccounts: boolean;
  joinRules: JoinRule[];
}

/**
 * Parses `OIDC_JOIN_RULES`: rules separated by `;`, each `domain:<domain>=<tenant>:<role>` or
 * `group:<group>=<tenant>:<role>` (a tenant name may hold spaces). Throws a sentence naming the
 * bad rule.
 */
export function parseJoinRules(text: string): JoinRule[] {
  return text
    .split(';')
    .map((rule) => rule.trim())
    .filter(Boolean)
    .map((rule) => {
      const found = /^(domain|group):([^=]+)=(.+):([a-z]+)$/.exec(rule);
      const role = found?.[4] as TenantRole | undefined;
      if (!found || !role || !TENANT_ROLES.includes(role)) {
        throw new Error(
          `"${rule}" is not domain:<domain>=<tenant>:<role> or group:<group>=<tenant>:<role>`,
        );
      }
      const key = found[2]!.trim();
      return {
        match: found[1] === 'domain' ? { domain: key.toLowerCase() } : { group: key },
        tenant: found[3]!.trim(),
        role,
      };
    });
}

/** Creates the account of a first-time single sign-on identity, bound to it. */
export async function createSsoAccount(
  knex: Knex,
  identity: { email: string; name: string | undefined; issuer: string; subject: string },
): Promise<UserRow> {
  const user = await insertUser(knex, {
    email: identity.email,
    name: identity.name?.trim() || identity.email.split('@')[0]!,
    passwordHash: null,
  });
  await knex('users')
    .where({ id: user.id })
    .update({ oidc_issuer: identity.issuer, oidc_subject: identity.subject });
  await recordAudit(knex, {
    actorId: user.id,
    action: 'user.create',
    targetType: 'user',
    targetId: user.id,
    details: { via: 'oidc', email: user.email },
  });
  return { ...user, oidc_issuer: identity.issuer, oidc_subject: identity.subject };
}

/**
 * Joins the user to each tenant a rule matches (their email's domain, or a group in the ID
 * token's `groups` claim), with the rule's role, unless they are a member there already (a role
 * an admin gave is kept). A rule naming no tenant is logged and skipped.
 */
export async function applyJoinRules(
  knex: Knex,
  logger: Logger,
  rules: JoinRule[],
  user: UserRow,
  groups: string[],
): Promise<void> {
  const domain = user.email.slice(user.email.lastIndexOf('@') + 1);
  for (const rule of rules) {
    const matches =
      'domain' in rule.match ? rule.match.domain === domain : groups.includes(rule.match.group);
    if (!matches) continue;
    const tenant = await knex('tenants').where({ name: rule.tenant }).first<{ id: string }>('id');
    if (!tenant) {
      logger.warn({ tenant: rule.tenant }, 'a single sign-on join rule names no tenant');
      continue;
    }
    const member = await knex('memberships')
      .where({ tenant_id: tenant.id, user_id: user.id })
      .first('role');
    if (member) continue;
    await upsertMembership(knex, { tenantId: tenant.id, userId: user.id, role: rule.role });
    await recordAudit(knex, {
      actorId: user.id,
      tenantId: tenant.id,
      action: 'member.add',
      targetType: 'user',
      targetId: user.id,
      details: { via: 'oidc', role: rule.role },
    });
  }
}
