import {
  type CreateInviteRequest,
  INVITE_TOKEN_PREFIX,
  type InvitePreview,
  type Membership,
  type TenantRole,
} from '@labvisor/shared';
import type { Knex } from 'knex';
import { isUniqueViolation } from '../../db/errors.js';
import { recordAudit } from '../../db/queries/audit.js';
import {
  countInviteUse,
  findInviteByTokenHash,
  type InviteRow,
  insertInvite,
  listInvites,
  revokeInvite,
  whyUnusable,
} from '../../db/queries/invites.js';
import { isoOrNull } from '../../db/queries/iso.js';
import { findTenantById, upsertMembership } from '../../db/queries/tenants.js';
import { insertUser, type UserRow } from '../../db/queries/users.js';
import { AppError } from '../../errors.js';
import { type Actor, higherRole, requireRole } from '../auth/access.js';
import { hashPassword } from '../auth/passwords.js';
import { hashSecretToken, newSecretToken } from '../auth/secret-tokens.js';

/** Most invite links a tenant may have that are not revoked. */
export const MAX_OPEN_INVITES = 50;

/** The NOT_FOUND of a token that names no invite (a typo, a made-up link). */
const noSuchInvite = () =>
  new AppError('NOT_FOUND', 'This invite link is not valid; check that it was copied whole.');

/**
 * Invite links: a tenant's instructors (for members) and admins (for any role) make them; whoever
 * has one joins the tenant — signed in, or with a new account — while it is not revoked, expired
 * or used up and their email is in its domains. Each join is counted and audited in the
 * transaction that checks the link, so a link of N uses admits N people, never more.
 */
export class InviteService {
  constructor(private readonly knex: Knex) {}

  /** The tenant's invites, newest first (instructors and admins). */
  async list(actor: Actor, tenantId: string): Promise<InviteRow[]> {
    requireRole(actor, tenantId, 'instructor');
    return listInvites(this.knex, tenantId);
  }

  /** Makes an invite link; answers its row and its token (shown this once). */
  async create(
    actor: Actor,
    tenantId: string,
    body: CreateInviteRequest,
    ip: string | undefined,
  ): Promise<{ row: InviteRow; token: string }> {
    requireRole(actor, tenantId, 'instructor');
    const role: TenantRole = body.role ?? 'member';
    if (role !== 'member') requireRole(actor, tenantId, 'admin');
    return this.knex.transaction(async (trx) => {
      if (!(await trx('tenants').where({ id: tenantId }).forUpdate().first('id')))
        throw new AppError('NOT_FOUND', 'No such tenant.');
      const open = await trx('invites')
        .where({ tenant_id: tenantId })
        .whereNull('revoked_at')
        .first<{ count: string }>(trx.raw('count(*) as count'));
      if (Number(open?.count ?? 0) >= MAX_OPEN_INVITES) {
        throw new AppError(
          'QUOTA_EXCEEDED',
          `A tenant may have ${MAX_OPEN_INVITES} invite links that are not revoked; revoke old ones first.`,
          { resource: 'invites', limit: MAX_OPEN_INVITES, used: Number(open?.count), requested: 1 },
        );
      }
      const token = newSecretToken(INVITE_TOKEN_PREFIX);
      const allowedDomains = [...new Set(body.allowedDomains ?? [])];
      const row = await insertInvite(trx, {
        tenant_id: tenantId,
        token_hash: hashSecretToken(token),
        role,
        max_uses: body.maxUses ?? null,
        created_by: actor.user.id,
        expires_in_days: body.expiresInDays,
        allowed_domains: allowedDomains,
      });
      await recordAudit(trx, {
        actorId: actor.user.id,
        tenantId,
        action: 'invite.create',
        targetType: 'invite',
        targetId: row.id,
        ip,
        details: { role, expiresInDays: body.expiresInDays, maxUses: body.maxUses, allowedDomains },
      });
      return { row, token };
    });
  }

  /** Revokes one of the tenant's invite links (instructors and admins). */
  async revoke(actor: Actor, tenantId: string, inviteId: string, ip: string | undefined) {
    requireRole(actor, tenantId, 'instructor');
    if (!(await revokeInvite(this.knex, tenantId, inviteId)))
      throw new AppError('NOT_FOUND', 'No such invite link.');
    await recordAudit(this.knex, {
      actorId: actor.user.id,
      tenantId,
      action: 'invite.revoke',
      targetType: 'invite',
      targetId: inviteId,
      ip,
    });
  }

  /** What joining with the link does; NOT_FOUND with the reason when it cannot be used. */
  async preview(token: string): Promise<InvitePreview> {
    const invite = await this.#usable(this.knex, token);
    const tenant = (await findTenantById(this.knex, invite.tenant_id))!;
    return {
      tenantName: tenant.name,
      role: invite.role,
      expiresAt: isoOrNull(invite.expires_at),
      allowedDomains: invite.allowed_domains,
    };
  }

  /**
   * Joins the signed-in user to the link's tenant. A member already there keeps the higher of
   * their role and the link's, and the link is not used up by them.
   */
  async accept(actor: Actor, token: string, ip: string | undefined): Promise<Membership> {
    return this.knex.transaction(async (trx) => {
      const invite = await this.#usable(trx, token, { forUpdate: true });
      assertDomainAllowed(invite, actor.user.email);
      const current = actor.roles.get(invite.tenant_id);
      const role = current ? higherRole(current, invite.role) : invite.role;
      if (role !== current) {
        await upsertMembership(trx, { tenantId: invite.tenant_id, userId: actor.user.id, role });
        await countInviteUse(trx, invite.id);
        await recordAudit(trx, {
          actorId: actor.user.id,
          tenantId: invite.tenant_id,
          action: 'invite.accept',
          targetType: 'invite',
          targetId: invite.id,
          ip,
          details: { role, before: current ?? null },
        });
      }
      const tenant = (await findTenantById(trx, invite.tenant_id))!;
      return { tenantId: tenant.id, tenantName: tenant.name, role };
    });
  }

  /** Creates an account with the link and joins it to the link's tenant; CONFLICT if the email has one. */
  async register(
    body: { token: string; email: string; name: string; password: string },
    ip: string | undefined,
  ): Promise<UserRow> {
    const passwordHash = await hashPassword(body.password);
    try {
      return await this.knex.transaction(async (trx) => {
        const invite = await this.#usable(trx, body.token, { forUpdate: true });
        assertDomainAllowed(invite, body.email);
        const user = await insertUser(trx, { email: body.email, name: body.name, passwordHash });
        await upsertMembership(trx, {
          tenantId: invite.tenant_id,
          userId: user.id,
          role: invite.role,
        });
        await countInviteUse(trx, invite.id);
        await recordAudit(trx, {
          actorId: user.id,
          tenantId: invite.tenant_id,
          action: 'invite.register',
          targetType: 'invite',
          targetId: invite.id,
          ip,
          details: { email: user.email, role: invite.role },
        });
        return user;
      });
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      throw new AppError(
        'CONFLICT',
        'An account with this email exists: sign in, then open the invite link again.',
        { field: 'email' },
      );
    }
  }

  /** The link's invite while it can be used; NOT_FOUND with the reason otherwise. */
  async #usable(knex: Knex, token: string, options: { forUpdate?: boolean } = {}) {
    const invite = await findInviteByTokenHash(knex, hashSecretToken(token), options);
    if (!invite) throw noSuchInvite();
    const why = whyUnusable(invite);
    if (why) throw new AppError('NOT_FOUND', why);
    return invite;
  }
}

/** Refuses an email outside the link's domains (when it names any). */
function assertDomainAllowed(invite: InviteRow, email: string): void {
  if (invite.allowed_domains.length === 0) return;
  const domain = email.slice(email.lastIndexOf('@') + 1).toLowerCase();
  if (!invite.allowed_domains.includes(domain)) {
    throw new AppError(
      'FORBIDDEN',
      `This invite link is for ${invite.allowed_domains.map((d) => `@${d}`).join(', ')} addresses only.`,
      { allowedDomains: invite.allowed_domains },
    );
  }
}
