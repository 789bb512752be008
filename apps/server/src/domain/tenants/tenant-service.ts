import type {
  CreateTenantRequest,
  Quota,
  QuotaLimits,
  TenantUsage,
  UpdateTenantRequest,
} from '@labvisor/shared';
import type { Knex } from 'knex';
import { isForeignKeyViolation, isUniqueViolation } from '../../db/errors.js';
import { recordAudit } from '../../db/queries/audit.js';
import { readLimits, writeLimits } from '../../db/queries/quotas.js';
import {
  deleteTenant,
  findTenantById,
  insertTenant,
  listTenants,
  type TenantRow,
  updateTenant,
} from '../../db/queries/tenants.js';
import { readDailyUsage, readHoursThisMonth } from '../../db/queries/usage.js';
import { AppError } from '../../errors.js';
import { type Actor, requirePlatformAdmin, requireRole, tenantNotFound } from '../auth/access.js';
import { readMemberLimits, readUsage } from '../quota/quota-usage.js';
import { assertInternetCap, lockTenantQuota } from '../vms/internet-cap.js';
import type { HomeDisks } from './home-disks.js';
import type { TenantProjects } from './tenant-projects.js';

/** Tenants, their quota and usage, as each actor may see and change them. */
export class TenantService {
  constructor(
    private readonly knex: Knex,
    private readonly homeDisks: HomeDisks,
    private readonly projects?: TenantProjects,
  ) {}

  /** The tenants the actor belongs to (every one for platform admins), by name. */
  list(actor: Actor): Promise<TenantRow[]> {
    return listTenants(
      this.knex,
      actor.user.is_platform_admin ? undefined : [...actor.roles.keys()],
    );
  }

  /**
   * The tenant, when the actor holds at least `role` in it: NOT_FOUND when it does not exist or
   * the actor is outside it, FORBIDDEN when their role is too small.
   */
  async get(actor: Actor, tenantId: string, role: 'member' | 'instructor' | 'admin' = 'member') {
    const tenant = await findTenantById(this.knex, tenantId);
    if (!tenant) throw tenantNotFound();
    requireRole(actor, tenant.id, role);
    return tenant;
  }

  /** Creates a tenant with the default quota (platform admins). */
  async create(actor: Actor, body: CreateTenantRequest, ip: string | undefined) {
    requirePlatformAdmin(actor);
    let created: Awaited<ReturnType<typeof insertTenant>>;
    try {
      created = await this.knex.transaction(async (trx) => {
        const row = await insertTenant(trx, { name: body.name });
        await recordAudit(trx, {
          actorId: actor.user.id,
          tenantId: row.id,
          action: 'tenant.create',
          targetType: 'tenant',
          targetId: row.id,
          ip,
        });
        return row;
      });
    } catch (error) {
      throw nameTaken(error, body.name);
    }
    const limits = await readLimits(this.knex, created.id);
    if (limits) await this.projects?.sync(created.id, limits);
    return created;
  }

  /** Renames a tenant or switches its console recording (platform admins). */
  async update(actor: Actor, tenantId: string, body: UpdateTenantRequest, ip: string | undefined) {
    const tenant = await this.get(actor, tenantId);
    // The class settings are its admins' too; its name, recording and network limits the platform's.
    const platformOnly = [
      body.name,
      body.recordingEnabled,
      body.bandwidthMbps,
      body.maxInternetVms,
    ];
    if (platformOnly.some((value) => value !== undefined)) requirePlatformAdmin(actor);
    else requireRole(actor, tenant.id, 'admin');
    if (body.defaultImageId) await this.#assertImageUsable(tenant.id, body.defaultImageId);
    try {
      const row = await this.knex.transaction(async (trx) => {
        await lockTenantQuota(trx, tenant.id);
        // Turning class egress on may not put more VMs online than the cap (a lower cap only
        // refuses the next ones, as quotas do).
        if (body.classInternet) await assertInternetCap(trx, tenant, { classInternet: true });
        return updateTenant(trx, tenant.id, body);
      });
      await recordAudit(this.knex, {
        actorId: actor.user.id,
        tenantId: tenant.id,
        action: 'tenant.update',
        targetType: 'tenant',
        targetId: tenant.id,
        ip,
        details: body,
      });
      return row;
    } catch (error) {
      throw nameTaken(error, body.name);
    }
  }

  /** Refuses an image the tenant cannot launch (another tenant's, or none). */
  async #assertImageUsable(tenantId: string, imageId: string): Promise<void> {
    const image = await this.knex('images')
      .where({ id: imageId })
      .andWhere((q) => q.whereNull('tenant_id').orWhere('tenant_id', tenantId))
      .first('id');
    if (!image) {
      throw new AppError('VALIDATION', 'No such image for this tenant.', {
        field: 'defaultImageId',
      });
    }
  }

  /** Deletes a tenant that has no VMs and no warm pools, and its members' homes (platform admins). */
  async delete(actor: Actor, tenantId: string, ip: string | undefined): Promise<void> {
    const tenant = await this.get(actor, tenantId);
    requirePlatformAdmin(actor);
    try {
      await deleteTenant(this.knex, tenant.id);
    } catch (error) {
      if (isForeignKeyViolation(error))
        throw new AppError(
          'CONFLICT',
          `Tenant "${tenant.name}" still has VMs or warm pools; delete them first.`,
        );
      throw error;
    }
    await this.homeDisks.removeTenant(tenant.id);
    await recordAudit(this.knex, {
      actorId: actor.user.id,
      action: 'tenant.delete',
      targetType: 'tenant',
      targetId: tenant.id,
      ip,
      details: { name: tenant.name },
    });
  }

  /** The tenant's limits and what is in use (any member). */
  async quota(actor: Actor, tenantId: string): Promise<Quota> {
    const tenant = await this.get(actor, tenantId);
    return this.#quotaOf(actor, tenant.id, (await readLimits(this.knex, tenant.id))!);
  }

  /** The tenant's limits and usage, with the caller's own hours and budget. */
  async #quotaOf(actor: Actor, tenantId: string, limits: QuotaLimits): Promise<Quota> {
    const own = await readMemberLimits(this.knex, tenantId, actor.user.id);
    return {
      limits,
      usage: await readUsage(this.knex, tenantId),
      yours: {
        vmHoursThisMonth: await readHoursThisMonth(this.knex, tenantId, actor.user.id),
        vmHoursPerMonth: own?.vmHoursPerMonth ?? null,
      },
    };
  }

  /** Sets the tenant's limits (platform admins). */
  async putQuota(
    actor: Actor,
    tenantId: string,
    limits: QuotaLimits,
    ip: string | undefined,
  ): Promise<Quota> {
    const tenant = await this.get(actor, tenantId);
    requirePlatformAdmin(actor);
    await this.knex.transaction(async (trx) => {
      await writeLimits(trx, tenant.id, limits);
      await recordAudit(trx, {
        actorId: actor.user.id,
        tenantId: tenant.id,
        action: 'quota.update',
        targetType: 'tenant',
        targetId: tenant.id,
        ip,
        details: { limits },
      });
    });
    await this.projects?.sync(tenant.id, limits);
    return this.#quotaOf(actor, tenant.id, limits);
  }

  /** VM-hours per UTC day and member over the last `days` days (tenant admins). */
  async usage(actor: Actor, tenantId: string, days: number): Promise<TenantUsage> {
    const tenant = await this.get(actor, tenantId, 'admin');
    return readDailyUsage(this.knex, tenant.id, days);
  }
}

/** A unique violation on a tenant's name as CONFLICT; any other error as it was. */
function nameTaken(error: unknown, name: string | undefined): unknown {
  return isUniqueViolation(error)
    ? new AppError('CONFLICT', `A tenant named "${name}" already exists.`)
    : error;
}
