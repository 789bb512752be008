import { toSnapshot } from '../../db/queries/snapshots.js';
import { toVm } from '../../db/queries/vms.js';
import type { SnapshotService } from '../../domain/vms/snapshot-service.js';
import type { VmService } from '../../domain/vms/vm-service.js';
import type { Handlers } from '../router.js';

/** A VM's snapshots: `/api/v1/vms/:vmId/snapshots/*`. */
export function snapshotHandlers(
  vms: VmService,
  snapshots: SnapshotService,
): Handlers<'listSnapshots' | 'createSnapshot' | 'restoreSnapshot' | 'deleteSnapshot'> {
  return {
    listSnapshots: async ({ params }, { actor }) => ({
      items: (await snapshots.list(actor, params.vmId)).map(toSnapshot),
    }),
    createSnapshot: async ({ params, body }, { actor, ip }) => {
      const vm = await vms.get(actor, params.vmId);
      return toSnapshot(await snapshots.create(actor, vm.id, body, ip));
    },
    restoreSnapshot: async ({ params }, { actor, ip }) =>
      toVm(await snapshots.restore(actor, params.vmId, params.snapshotId, ip)),
    deleteSnapshot: ({ params }, { actor, ip }) =>
      snapshots.delete(actor, params.vmId, params.snapshotId, ip),
  };
}
