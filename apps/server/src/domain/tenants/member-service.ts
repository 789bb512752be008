import type { AddMemberRequest, Member, QuotaLimits, TenantRole } from '@labvisor/shared';
import type { Knex } from 'knex';
import { recordAudit } from '../../db/queries/audit.js';
import {
  deleteMembership,
  listMembers,
  updateMemberLimits,
  updateMemberRole,
} from '../../db/queries/members.js';
import { readLimits } from '../../db/queries/quotas.js';
import { upsertMembership } from '../../db/queries/tenants.js';
import { findUserByEmail } from '../../db/queries/users.js';
import { AppError } from '../../errors.js';
import type { Actor } from '../auth/access.js';
import type { AccessEvents } from '../auth/access-events.js';
import type { HomeDisks } from './home-disks.js';
import type { TenantService } from './tenant-service.js';

/** How a refusal names each member limit after its number. */
const MEMBER_LIMIT_UNITS = {
  runningVms: 'running VMs',
  vcpus: 'vCPUs',
  memoryMib: 'MiB of memory',
  diskGib: 'GiB of disk',
  vmHoursPerMonth: 'VM-hours a month',
} as const;

/**
 * A tenant's members: instructors and admins list them, admins add, change and remove them. Each
 * change is announced to {@link AccessEvents} (open consoles are re-checked) and audited.
 */
export class MemberService {
  constructor(
    private readonly knex: Knex,
    private readonly tenants: TenantService,
    private readonly accessEvents: AccessEvents,
    private readonly homeDisks: HomeDisks,
  ) {}

  async list(actor: Actor, tenantId: string): Promise<Member[]> {
    const tenant = await this.tenants.get(actor, tenantId, 'instructor');
    return listMembers(this.knex, tenant.id);
  }

  /** Adds an existing user by email with a role, or changes the role they have. */
  async add(actor: Actor, tenantId: string, body: AddMemberRequest, ip: string | undefined) {
    const tenant = await this.tenants.get(actor, tenantId, 'admin');
    const user = await findUserByEmail(this.knex, body.email);
    if (!user)
      throw new AppError(
        'NOT_FOUND',
        `No user with the email ${body.email}; a platform admin creates users first.`,
      );
    await upsertMembership(this.knex, { tenantId: tenant.id, userId: user.id, role: body.role });
    await this.accessEvents.changed({ userId: user.id, tenantId: tenant.id });
    await this.#audit(actor, tenant.id, 'member.add', user.id, ip, { role: body.role });
    return this.#member(tenant.id, user.id);
  }

  /** Changes a member's role; nobody but a platform admin changes their own. */
  async setRole(
    actor: Actor,
    tenantId: string,
    userId: string,
    role: TenantRole,
    ip: string | undefined,
  ) {
    const tenant = await this.tenants.get(actor, tenantId, 'admin');
    if (userId === actor.user.id && !actor.user.is_platform_admin) {
      throw new AppError(
        'CONFLICT',
        'You cannot change your own role; ask another admin of the tenant.',
      );
    }
    if (!(await updateMemberRole(this.knex, tenant.id, userId, role))) throw memberNotFound();
    await this.accessEvents.changed({ userId, tenantId: tenant.id });
    await this.#audit(actor, tenant.id, 'member.role', userId, ip, { role });
    return this.#member(tenant.id, userId);
  }

  /** Sets a member's own limits, each at most the tenant's; null clears them. */
  async setLimits(
    actor: Actor,
    tenantId: string,
    userId: string,
    limits: Member['limits'],
    ip: string | undefined,
  ) {
    const tenant = await this.tenants.get(actor, tenantId, 'admin');
    refuseAboveTenant(limits, (await readLimits(this.knex, tenant.id))!);
    if (!(await updateMemberLimits(this.knex, tenant.id, userId, limits))) throw memberNotFound();
    await this.#audit(actor, tenant.id, 'member.limits', userId, ip, { limits });
    return this.#member(tenant.id, userId);
  }

  /** Removes a member from the tenant; their home disk there is deleted with them. */
  async remove(actor: Actor, tenantId: string, userId: string, ip: string | undefined) {
    const tenant = await this.tenants.get(actor, tenantId, 'admin');
    if (!(await deleteMembership(this.knex, tenant.id, userId))) throw memberNotFound();
    await this.homeDisks.remove(tenant.id, userId);
    await this.accessEvents.changed({ userId, tenantId: tenant.id });
    await this.#audit(actor, tenant.id, 'member.remove', userId, ip);
  }

  async #member(tenantId: string, userId: string): Promise<Member> {
    const member = (await listMembers(this.knex, tenantId)).find((m) => m.userId === userId);
    if (!member) throw memberNotFound();
    return member;
  }

  #audit(
    actor: Actor,
    tenantId: string,
    action: string,
    userId: string,
    ip: string | undefined,
    details?: Record<string, unknown>,
  ): Promise<void> {
    return recordAudit(this.knex, {
      actorId: actor.user.id,
      tenantId,
      action,
      targetType: 'user',
      targetId: userId,
      ip,
      ...(details ? { details } : {}),
    });
  }
}

function memberNotFound(): AppError {
  return new AppError('NOT_FOUND', 'No such member.');
}

/** VALIDATION naming each member limit above the tenant's (its idle minutes are not a quota). */
function refuseAboveTenant(limits: Member['limits'], tenantLimits: QuotaLimits): void {
  const tooHigh = Object.entries(limits ?? {}).filter(
    ([key, value]) => key in MEMBER_LIMIT_UNITS && value! > tenantLimits[key as keyof QuotaLimits],
  ) as [keyof typeof MEMBER_LIMIT_UNITS, number][];
  if (tooHigh.length === 0) return;
  throw new AppError(
    'VALIDATION',
    `Member limits must fit inside the tenant quota: ${tooHigh.map(([key]) => `at most ${tenantLimits[key]} ${MEMBER_LIMIT_UNITS[key]}`).join(', ')}.`,
    {
      source: 'body',
      fields: tooHigh.map(([key]) => ({
        field: `limits.${key}`,
        message: `must be at most the tenant's ${tenantLimits[key]}`,
      })),
    },
  );
}
