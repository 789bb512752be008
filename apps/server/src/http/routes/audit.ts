import { Router } from 'express';
import type { Knex } from 'knex';
import { z } from 'zod';
import { requirePlatformAdmin, requireRole } from '../../domain/auth/access.js';
import { actorOf } from '../auth/authentication.js';
import { parseInput } from '../validate.js';

const auditQuerySchema = z.strictObject({
  tenantId: z.uuid().optional(),
  action: z.string().max(64).optional(),
  actorId: z.uuid().optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  before: z.coerce.number().int().positive().optional(),
});

/** The audit log, newest first: platform admins see everything, tenant admins their tenant's. */
export function auditRoutes(knex: Knex): Router {
  const router = Router();

  router.get('/audit', async (req, res) => {
    const actor = await actorOf(req, knex);
    const query = parseInput(auditQuerySchema, req.query, 'query');
    if (query.tenantId) requireRole(actor, query.tenantId, 'admin');
    else requirePlatformAdmin(actor);
    const rows = await knex('audit_log')
      .leftJoin('users', 'users.id', 'audit_log.actor_id')
      .modify((q) => {
        if (query.tenantId) q.where('audit_log.tenant_id', query.tenantId);
        if (query.action) q.where('audit_log.action', query.action);
        if (query.actorId) q.where('audit_log.actor_id', query.actorId);
        if (query.before) q.where('audit_log.id', '<', query.before);
      })
      .orderBy('audit_log.id', 'desc')
      .limit(query.limit)
      .select('audit_log.*', 'users.email as actor_email');
    res.json({
      // biome-ignore lint/suspicious/noExplicitAny: a joined row, mapped field by field below
      items: rows.map((row: Record<string, any>) => ({
        id: String(row.id),
        actorId: row.actor_id,
        actorEmail: row.actor_email,
        tenantId: row.tenant_id,
        action: row.action,
        targetType: row.target_type,
        targetId: row.target_id,
        ip: row.ip,
        details: row.details,
        createdAt: new Date(row.created_at).toISOString(),
      })),
    });
  });

  return router;
}
