import { toImage } from '../../db/queries/images.js';
import { toVm } from '../../db/queries/vms.js';
import type { ImageImport } from '../../domain/images/image-import.js';
import type { VmService } from '../../domain/vms/vm-service.js';
import type { Handlers } from '../router.js';

/** Class templates: `POST /api/v1/vms/:vmId/{publish,reset}` and a class's reset. */
export function classTemplateHandlers(
  vms: VmService,
  images: ImageImport,
): Handlers<'publishVm' | 'resetVm' | 'resetClassLabs'> {
  return {
    publishVm: async ({ params, body }, { actor, ip }) =>
      toImage(await images.publish(actor, await vms.get(actor, params.vmId), body.name, ip), 0),
    resetVm: async ({ params }, { actor, ip }) => toVm(await vms.reset(actor, params.vmId, ip)),
    resetClassLabs: async ({ params, body }, { actor, ip }) => {
      const { reset, refused } = await vms.resetClass(actor, params.tenantId, body.ownerIds, ip);
      return {
        reset: reset.map(toVm),
        refused: refused.map(({ vm, reason }) => ({ vmId: vm.id, name: vm.name, reason })),
      };
    },
  };
}
