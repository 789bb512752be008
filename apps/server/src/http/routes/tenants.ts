import {
  addMemberRequestSchema,
  createTenantRequestSchema,
  putMemberLimitsRequestSchema,
  putQuotaRequestSchema,
  type Quota,
  tenantUsageQuerySchema,
  updateMemberRequestSchema,
  updateTenantRequestSchema,
} from '@labvisor/shared';
import { Router } from 'express';
import type { Knex } from 'knex';
import { isForeignKeyViolation, isUniqueViolation } from '../../db/errors.js';
import { recordAudit } from '../../db/queries/audit.js';
import { deleteMembership, listMembers } from '../../db/queries/members.js';
import { readLimits, writeLimits } from '../../db/queries/quotas.js';
import {
  findTenantById,
  insertTenant,
  type TenantRow,
  toTenant,
  upsertMembership,
} from '../../db/queries/tenants.js';
import { readDailyUsage } from '../../db/queries/usage.js';
import { findUserByEmail } from '../../db/queries/users.js';
import { requirePlatformAdmin, requireRole, tenantNotFound } from '../../domain/auth/access.js';
import type { AccessEvents } from '../../domain/auth/access-events.js';
import { readUsage } from '../../domain/quota/quota-usage.js';
import { AppError } from '../../errors.js';
import { actorOf } from '../auth/authentication.js';
import { parseIdParam, parseInput } from '../validate.js';

/** How a refusal names each member limit after its number. */
const MEMBER_LIMIT_UNITS = {
  runningVms: 'running VMs',
  vcpus: 'vCPUs',
  memoryMib: 'MiB of memory',
  diskGib: 'GiB of disk',
} as const;

/** Tenants, their quota, members and usage: `/api/v1/tenants/*`. */
export function tenantRoutes(knex: Knex, accessEvents: AccessEvents): Router {
  const router = Router();

  /** The tenant of the path, when it exists; NOT_FOUND otherwise (access is checked by the caller). */
  async function tenantOfPath(params: Record<string, string | undefined>): Promise<TenantRow> {
    const tenant = await findTenantById(knex, parseIdParam(params, 'tenantId'));
    if (!tenant) throw tenantNotFound();
    return tenant;
  }

  router.get('/tenants', async (req, res) => {
    const actor = await actorOf(req, knex);
    const query = knex<TenantRow>('tenants').orderBy('name');
    if (!actor.user.is_platform_admin) query.whereIn('id', [...actor.roles.keys()]);
    res.json({ items: (await query).map(toTenant) });
  });

  router.post('/tenants', async (req, res) => {
    const actor = await actorOf(req, knex);
    requirePlatformAdmin(actor);
    const body = parseInput(createTenantRequestSchema, req.body);
    try {
      const tenant = await knex.transaction(async (trx) => {
        const row = await insertTenant(trx, { name: body.name });
        await recordAudit(trx, {
          actorId: actor.user.id,
          tenantId: row.id,
          action: 'tenant.create',
          targetType: 'tenant',
          targetId: row.id,
          ip: req.ip,
        });
        return row;
      });
      res.status(201).json(toTenant(tenant));
    } catch (error) {
      if (isUniqueViolation(error))
        throw new AppError('CONFLICT', `A tenant named "${body.name}" already exists.`);
      throw error;
    }
  });

  router.get('/tenants/:tenantId', async (req, res) => {
    const actor = await actorOf(req, knex);
    const tenant = await tenantOfPath(req.params);
    requireRole(actor, tenant.id, 'member');
    res.json(toTenant(tenant));
  });

  router.patch('/tenants/:tenantId', async (req, res) => {
    const actor = await actorOf(req, knex);
    const tenant = await tenantOfPath(req.params);
    requireRole(actor, tenant.id, 'member');
    requirePlatformAdmin(actor);
    const body = parseInput(updateTenantRequestSchema, req.body);
    const changes = {
      ...(body.name !== undefined ? { name: body.name } : {}),
      ...(body.recordingEnabled !== undefined ? { recording_enabled: body.recordingEnabled } : {}),
    };
    try {
      const [row] = await knex<TenantRow>('tenants')
        .where({ id: tenant.id })
        .update({ ...changes, updated_at: knex.fn.now() })
        .returning('*');
      await recordAudit(knex, {
        actorId: actor.user.id,
        tenantId: tenant.id,
        action: 'tenant.update',
        targetType: 'tenant',
        targetId: tenant.id,
        ip: req.ip,
        details: body,
      });
      res.json(toTenant(row!));
    } catch (error) {
      if (isUniqueViolation(error))
        throw new AppError('CONFLICT', `A tenant named "${body.name}" already exists.`);
      throw error;
    }
  });

  router.delete('/tenants/:tenantId', async (req, res) => {
    const actor = await actorOf(req, knex);
    const tenant = await tenantOfPath(req.params);
    requireRole(actor, tenant.id, 'member');
    requirePlatformAdmin(actor);
    try {
      await knex('tenants').where({ id: tenant.id }).delete();
    } catch (error) {
      if (isForeignKeyViolation(error)) {
        throw new AppError('CONFLICT', `Tenant "${tenant.name}" still has VMs; delete them first.`);
      }
      throw error;
    }
    await recordAudit(knex, {
      actorId: actor.user.id,
      action: 'tenant.delete',
      targetType: 'tenant',
      targetId: tenant.id,
      ip: req.ip,
      details: { name: tenant.name },
    });
    res.status(204).end();
  });

  router.get('/tenants/:tenantId/quota', async (req, res) => {
    const actor = await actorOf(req, knex);
    const tenant = await tenantOfPath(req.params);
    requireRole(actor, tenant.id, 'member');
    const quota: Quota = {
      limits: (await readLimits(knex, tenant.id))!,
      usage: await readUsage(knex, tenant.id),
    };
    res.json(quota);
  });

  router.put('/tenants/:tenantId/quota', async (req, res) => {
    const actor = await actorOf(req, knex);
    const tenant = await tenantOfPath(req.params);
    requireRole(actor, tenant.id, 'member');
    requirePlatformAdmin(actor);
    const { limits } = parseInput(putQuotaRequestSchema, req.body);
    await knex.transaction(async (trx) => {
      await writeLimits(trx, tenant.id, limits);
      await recordAudit(trx, {
        actorId: actor.user.id,
        tenantId: tenant.id,
        action: 'quota.update',
        targetType: 'tenant',
        targetId: tenant.id,
        ip: req.ip,
        details: { limits },
      });
    });
    const quota: Quota = { limits, usage: await readUsage(knex, tenant.id) };
    res.json(quota);
  });

  router.get('/tenants/:tenantId/members', async (req, res) => {
    const actor = await actorOf(req, knex);
    const tenant = await tenantOfPath(req.params);
    requireRole(actor, tenant.id, 'instructor');
    res.json({ items: await listMembers(knex, tenant.id) });
  });

  router.post('/tenants/:tenantId/members', async (req, res) => {
    const actor = await actorOf(req, knex);
    const tenant = await tenantOfPath(req.params);
    requireRole(actor, tenant.id, 'admin');
    const body = parseInput(addMemberRequestSchema, req.body);
    const user = await findUserByEmail(knex, body.email);
    if (!user)
      throw new AppError(
        'NOT_FOUND',
        `No user with the email ${body.email}; a platform admin creates users first.`,
      );
    await upsertMembership(knex, { tenantId: tenant.id, userId: user.id, role: body.role });
    accessEvents.changed({ userId: user.id, tenantId: tenant.id });
    await recordAudit(knex, {
      actorId: actor.user.id,
      tenantId: tenant.id,
      action: 'member.add',
      targetType: 'user',
      targetId: user.id,
      ip: req.ip,
      details: { role: body.role },
    });
    const member = (await listMembers(knex, tenant.id)).find((m) => m.userId === user.id);
    res.status(201).json(member);
  });

  router.patch('/tenants/:tenantId/members/:userId', async (req, res) => {
    const actor = await actorOf(req, knex);
    const tenant = await tenantOfPath(req.params);
    requireRole(actor, tenant.id, 'admin');
    const userId = parseIdParam(req.params, 'userId');
    const { role } = parseInput(updateMemberRequestSchema, req.body);
    if (userId === actor.user.id && !actor.user.is_platform_admin) {
      throw new AppError(
        'CONFLICT',
        'You cannot change your own role; ask another admin of the tenant.',
      );
    }
    const updated = await knex('memberships')
      .where({ tenant_id: tenant.id, user_id: userId })
      .update({ role })
      .returning('user_id');
    if (updated.length === 0) throw new AppError('NOT_FOUND', 'No such member.');
    accessEvents.changed({ userId, tenantId: tenant.id });
    await recordAudit(knex, {
      actorId: actor.user.id,
      tenantId: tenant.id,
      action: 'member.role',
      targetType: 'user',
      targetId: userId,
      ip: req.ip,
      details: { role },
    });
    res.json((await listMembers(knex, tenant.id)).find((m) => m.userId === userId));
  });

  router.put('/tenants/:tenantId/members/:userId/limits', async (req, res) => {
    const actor = await actorOf(req, knex);
    const tenant = await tenantOfPath(req.params);
    requireRole(actor, tenant.id, 'admin');
    const userId = parseIdParam(req.params, 'userId');
    const { limits } = parseInput(putMemberLimitsRequestSchema, req.body);
    const tenantLimits = (await readLimits(knex, tenant.id))!;
    const tooHigh = Object.entries(limits ?? {}).filter(
      ([key, value]) => value! > tenantLimits[key as keyof typeof tenantLimits],
    );
    if (tooHigh.length > 0) {
      throw new AppError(
        'VALIDATION',
        `Member limits must fit inside the tenant quota: ${tooHigh.map(([key]) => `at most ${tenantLimits[key as keyof typeof tenantLimits]} ${MEMBER_LIMIT_UNITS[key as keyof typeof MEMBER_LIMIT_UNITS]}`).join(', ')}.`,
        {
          source: 'body',
          fields: tooHigh.map(([key]) => ({
            field: `limits.${key}`,
            message: `must be at most the tenant's ${tenantLimits[key as keyof typeof tenantLimits]}`,
          })),
        },
      );
    }
    const updated = await knex('memberships')
      .where({ tenant_id: tenant.id, user_id: userId })
      .update({ limits: limits ? JSON.stringify(limits) : null })
      .returning('user_id');
    if (updated.length === 0) throw new AppError('NOT_FOUND', 'No such member.');
    await recordAudit(knex, {
      actorId: actor.user.id,
      tenantId: tenant.id,
      action: 'member.limits',
      targetType: 'user',
      targetId: userId,
      ip: req.ip,
      details: { limits },
    });
    res.json((await listMembers(knex, tenant.id)).find((m) => m.userId === userId));
  });

  router.delete('/tenants/:tenantId/members/:userId', async (req, res) => {
    const actor = await actorOf(req, knex);
    const tenant = await tenantOfPath(req.params);
    requireRole(actor, tenant.id, 'admin');
    const userId = parseIdParam(req.params, 'userId');
    if (!(await deleteMembership(knex, tenant.id, userId)))
      throw new AppError('NOT_FOUND', 'No such member.');
    accessEvents.changed({ userId, tenantId: tenant.id });
    await recordAudit(knex, {
      actorId: actor.user.id,
      tenantId: tenant.id,
      action: 'member.remove',
      targetType: 'user',
      targetId: userId,
      ip: req.ip,
    });
    res.status(204).end();
  });

  router.get('/tenants/:tenantId/usage', async (req, res) => {
    const actor = await actorOf(req, knex);
    const tenant = await tenantOfPath(req.params);
    requireRole(actor, tenant.id, 'admin');
    const { days } = parseInput(tenantUsageQuerySchema, req.query, 'query');
    res.json(await readDailyUsage(knex, tenant.id, days));
  });

  return router;
}
