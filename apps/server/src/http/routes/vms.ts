import {
  createVmQuerySchema,
  createVmRequestSchema,
  emptyBodySchema,
  idempotencyKeyHeaderSchema,
  listVmsQuerySchema,
  VM_ACTIONS,
} from '@labvisor/shared';
import { Router } from 'express';
import type { Knex } from 'knex';
import { toVm } from '../../db/queries/vms.js';
import type { VmService } from '../../domain/vms/vm-service.js';
import { actorOf } from '../auth/authentication.js';
import { parseIdParam, parseInput } from '../validate.js';

/** Virtual machines and their lifecycle: `/api/v1/vms/*`. */
export function vmRoutes(knex: Knex, vms: VmService): Router {
  const router = Router();

  router.get('/vms', async (req, res) => {
    const actor = await actorOf(req, knex);
    const query = parseInput(listVmsQuerySchema, req.query, 'query');
    res.json({ items: (await vms.list(actor, query.tenantId)).map(toVm) });
  });

  router.post('/vms', async (req, res) => {
    const actor = await actorOf(req, knex);
    const query = parseInput(createVmQuerySchema, req.query, 'query');
    const body = parseInput(createVmRequestSchema, req.body);
    const headers = parseInput(
      idempotencyKeyHeaderSchema,
      { 'idempotency-key': req.get('idempotency-key') },
      'header',
    );
    const dryRun = query.dryRun === '1' || query.dryRun === 'true';
    const vm = await vms.create(actor, body, {
      dryRun,
      idempotencyKey: headers['idempotency-key'],
      ip: req.ip,
    });
    if (!vm) return void res.json({ admitted: true });
    res.status(201).json(toVm(vm));
  });

  router.get('/vms/:vmId', async (req, res) => {
    const actor = await actorOf(req, knex);
    res.json(toVm(await vms.get(actor, parseIdParam(req.params, 'vmId'))));
  });

  router.delete('/vms/:vmId', async (req, res) => {
    const actor = await actorOf(req, knex);
    await vms.delete(actor, parseIdParam(req.params, 'vmId'), req.ip);
    res.status(204).end();
  });

  for (const action of VM_ACTIONS) {
    router.post(`/vms/:vmId/${action}`, async (req, res) => {
      const actor = await actorOf(req, knex);
      const vmId = (await vms.get(actor, parseIdParam(req.params, 'vmId'))).id;
      parseInput(emptyBodySchema, req.body);
      const vm = await vms.act(actor, vmId, action, req.ip);
      res.status(202).json(toVm(vm));
    });
  }

  return router;
}
