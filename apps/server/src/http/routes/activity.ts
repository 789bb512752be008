import { type VmActivity, vmActivityQuerySchema } from '@labvisor/shared';
import { Router } from 'express';
import type { Knex } from 'knex';
import type { VmService } from '../../domain/vms/vm-service.js';
import { actorOf } from '../auth/authentication.js';
import { parseIdParam, parseInput } from '../validate.js';

interface ActivityRow {
  id: string | number;
  action: string;
  actor_id: string | null;
  actor_name: string | null;
  details: Record<string, unknown> | string | null;
  created_at: Date;
}

/**
 * A VM's recent activity, newest first: what the audit log holds about it (started, stopped,
 * snapshots, consoles opened), for whoever can see the VM. Addresses are left out: students see
 * this too.
 */
export function activityRoutes(knex: Knex, vms: VmService): Router {
  const router = Router();

  router.get('/vms/:vmId/activity', async (req, res) => {
    const actor = await actorOf(req, knex);
    const vm = await vms.get(actor, parseIdParam(req.params, 'vmId'));
    const query = parseInput(vmActivityQuerySchema, req.query, 'query');
    const rows = await knex('audit_log')
      .leftJoin('users', 'users.id', 'audit_log.actor_id')
      .where({ 'audit_log.target_type': 'vm', 'audit_log.target_id': vm.id })
      .orderBy('audit_log.id', 'desc')
      .limit(query.limit)
      .select<ActivityRow[]>(
        'audit_log.id',
        'audit_log.action',
        'audit_log.actor_id',
        'users.name as actor_name',
        'audit_log.details',
        'audit_log.created_at',
      );
    const items: VmActivity[] = rows.map((row) => ({
      id: String(row.id),
      action: row.action,
      actorId: row.actor_id,
      actorName: row.actor_name,
      details: typeof row.details === 'string' ? JSON.parse(row.details) : (row.details ?? {}),
      createdAt: new Date(row.created_at).toISOString(),
    }));
    res.json({ items });
  });

  return router;
}
