import type { Knex } from 'knex';
import type { EngineStatusSource } from '../../app.js';
import { countVmsByState } from '../../db/queries/vms.js';
import { requirePlatformAdmin } from '../../domain/auth/access.js';
import type { BackgroundImageBuilds } from '../../domain/images/image-builds.js';
import type { Handlers } from '../router.js';

/**
 * This host's capacity, its VMs by state and its background image builds (platform admins only):
 * `/api/v1/host`.
 */
export function hostHandlers(
  knex: Knex,
  engine: EngineStatusSource,
  imageBuilds: Pick<BackgroundImageBuilds, 'status'>,
): Handlers<'host'> {
  return {
    host: async (_input, { actor }) => {
      requirePlatformAdmin(actor);
      const capacity = engine.capacity();
      const info = engine.info();
      return {
        host: { vcpus: capacity.host.vcpus, memoryMib: capacity.host.memoryMib },
        allocatable: capacity.allocatable,
        used: capacity.used,
        vmsByState: await countVmsByState(knex),
        driver: info.name,
        driverVersion: info.version,
        details: info.details,
        ...(info.error ? { engineError: info.error } : {}),
        imageBuilds: imageBuilds.status(),
      };
    },
  };
}
