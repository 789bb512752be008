import fs from 'node:fs';
import { Router } from 'express';
import type { Knex } from 'knex';
import { requireRole } from '../../domain/auth/access.js';
import type { VmService } from '../../domain/vms/vm-service.js';
import { AppError } from '../../errors.js';
import { actorOf } from '../auth/authentication.js';
import { parseIdParam } from '../validate.js';

interface RecordingRow {
  id: string;
  tenant_id: string;
  vm_id: string | null;
  vm_name: string;
  path: string;
  viewers: Array<{ userId: string; name: string; mode: string }>;
  size_bytes: string | number;
  started_at: Date;
  ended_at: Date | null;
}

const toRecording = (row: RecordingRow) => ({
  id: row.id,
  tenantId: row.tenant_id,
  vmId: row.vm_id,
  vmName: row.vm_name,
  viewers: row.viewers,
  sizeBytes: Number(row.size_bytes),
  startedAt: new Date(row.started_at).toISOString(),
  endedAt: row.ended_at ? new Date(row.ended_at).toISOString() : null,
});

/** Serial console recordings, for instructors and admins of the tenant: list and asciicast file. */
export function recordingRoutes(knex: Knex, vms: VmService): Router {
  const router = Router();

  router.get('/vms/:vmId/recordings', async (req, res) => {
    const actor = await actorOf(req, knex);
    const vm = await vms.get(actor, parseIdParam(req.params, 'vmId'));
    requireRole(actor, vm.tenant_id, 'instructor');
    const rows = await knex<RecordingRow>('console_recordings')
      .where({ vm_id: vm.id })
      .orderBy('started_at', 'desc');
    res.json({ items: rows.map(toRecording) });
  });

  router.get('/recordings/:recordingId/cast', async (req, res) => {
    const actor = await actorOf(req, knex);
    const row = await knex<RecordingRow>('console_recordings')
      .where({ id: parseIdParam(req.params, 'recordingId') })
      .first();
    if (!row) throw new AppError('NOT_FOUND', 'No such recording.');
    try {
      requireRole(actor, row.tenant_id, 'instructor');
    } catch (error) {
      throw (error as AppError).code === 'NOT_FOUND'
        ? new AppError('NOT_FOUND', 'No such recording.')
        : error;
    }
    res.type('application/x-asciicast');
    res.setHeader('Content-Disposition', `attachment; filename="${row.vm_name}-${row.id}.cast"`);
    fs.createReadStream(row.path)
      .on('error', () => res.destroy())
      .pipe(res);
  });

  return router;
}
