import { createSnapshotRequestSchema, emptyBodySchema } from '@labvisor/shared';
import { Router } from 'express';
import type { Knex } from 'knex';
import { toSnapshot } from '../../db/queries/snapshots.js';
import { toVm } from '../../db/queries/vms.js';
import type { SnapshotService } from '../../domain/vms/snapshot-service.js';
import type { VmService } from '../../domain/vms/vm-service.js';
import { actorOf } from '../auth/authentication.js';
import { parseIdParam, parseInput } from '../validate.js';

/** A VM's snapshots: `/api/v1/vms/:vmId/snapshots/*`. */
export function snapshotRoutes(knex: Knex, vms: VmService, snapshots: SnapshotService): Router {
  const router = Router();

  router.get('/vms/:vmId/snapshots', async (req, res) => {
    const actor = await actorOf(req, knex);
    const rows = await snapshots.list(actor, parseIdParam(req.params, 'vmId'));
    res.json({ items: rows.map(toSnapshot) });
  });

  router.post('/vms/:vmId/snapshots', async (req, res) => {
    const actor = await actorOf(req, knex);
    // The VM first: another tenant's VM answers 404 whatever the body.
    const vm = await vms.get(actor, parseIdParam(req.params, 'vmId'));
    const body = parseInput(createSnapshotRequestSchema, req.body);
    res.status(201).json(toSnapshot(await snapshots.create(actor, vm.id, body, req.ip)));
  });

  router.post('/vms/:vmId/snapshots/:snapshotId/restore', async (req, res) => {
    const actor = await actorOf(req, knex);
    parseInput(emptyBodySchema, req.body);
    const vm = await snapshots.restore(
      actor,
      parseIdParam(req.params, 'vmId'),
      parseIdParam(req.params, 'snapshotId'),
      req.ip,
    );
    res.json(toVm(vm));
  });

  router.delete('/vms/:vmId/snapshots/:snapshotId', async (req, res) => {
    const actor = await actorOf(req, knex);
    await snapshots.delete(
      actor,
      parseIdParam(req.params, 'vmId'),
      parseIdParam(req.params, 'snapshotId'),
      req.ip,
    );
    res.status(204).end();
  });

  return router;
}
