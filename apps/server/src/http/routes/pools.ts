import type { PoolService } from '../../domain/pools/pool-service.js';
import type { Handlers } from '../router.js';

/** A tenant's warm pools: `/api/v1/tenants/:tenantId/pools`. */
export function poolHandlers(pools: PoolService): Handlers<'getPools' | 'putPools'> {
  return {
    getPools: ({ params }, { actor }) => pools.list(actor, params.tenantId),
    putPools: ({ params, body }, { actor, ip }) =>
      pools.replace(actor, params.tenantId, body.pools, ip),
  };
}
