import { type HostCapacity, VM_STATES, type VmState } from '@labvisor/shared';
import { Router } from 'express';
import type { Knex } from 'knex';
import type { EngineStatusSource } from '../../app.js';
import { requirePlatformAdmin } from '../../domain/auth/access.js';
import { actorOf } from '../auth/authentication.js';

/** This host's capacity and its VMs by state (platform admins only): `/api/v1/host`. */
export function hostRoutes(knex: Knex, engine: EngineStatusSource): Router {
  const router = Router();

  router.get('/host', async (req, res) => {
    requirePlatformAdmin(await actorOf(req, knex));
    const counts = await knex('vms')
      .groupBy('state')
      .select<{ state: VmState; count: string | number }[]>('state', knex.raw('count(*) as count'));
    const vmsByState = Object.fromEntries(VM_STATES.map((state) => [state, 0])) as Record<
      VmState,
      number
    >;
    for (const row of counts) vmsByState[row.state] = Number(row.count);
    const capacity = engine.capacity();
    const info = engine.info();
    const body: HostCapacity = {
      host: { vcpus: capacity.host.vcpus, memoryMib: capacity.host.memoryMib },
      allocatable: capacity.allocatable,
      used: capacity.used,
      vmsByState,
      driver: info.name,
      driverVersion: info.version,
      details: info.details,
      ...(info.error ? { engineError: info.error } : {}),
    };
    res.json(body);
  });

  return router;
}
