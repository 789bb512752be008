import type { VM_ACTION_ROUTES, VmAction } from '@labvisor/shared';
import type { Knex } from 'knex';
import { listVmActivity } from '../../db/queries/audit.js';
import { toVm } from '../../db/queries/vms.js';
import type { VmService } from '../../domain/vms/vm-service.js';
import type { GuestPortProxy } from '../guest-ports.js';
import { idempotencyKeyOf } from '../headers.js';
import { ANSWERED, Answer, type Handler, type Handlers } from '../router.js';
import type { VmEventStreams } from '../vm-events.js';

type VmActionRouteName = `${VmAction}Vm`;

/** Virtual machines, their lifecycle and activity (`/api/v1/vms/*`), and their change events. */
export function vmHandlers(
  knex: Knex,
  vms: VmService,
  events: VmEventStreams,
  ports: GuestPortProxy,
): Handlers<
  | 'listVms'
  | 'createVm'
  | 'getVm'
  | 'updateVm'
  | 'openVmPort'
  | 'deleteVm'
  | 'vmActivity'
  | 'vmEvents'
  | VmActionRouteName
> {
  const act =
    (action: VmAction): Handler<(typeof VM_ACTION_ROUTES)[VmAction]> =>
    async ({ params }, { actor, ip }) => {
      const vmId = (await vms.get(actor, params.vmId)).id;
      return toVm(await vms.act(actor, vmId, action, ip));
    };
  return {
    vmEvents: (_input, { res, actor }) => {
      events.open(res, actor);
      return ANSWERED;
    },
    listVms: async ({ query }, { actor }) => ({
      items: (await vms.list(actor, query.tenantId)).map(toVm),
    }),
    createVm: async ({ query, body }, { req, actor, ip }) => {
      const dryRun = query.dryRun === '1' || query.dryRun === 'true';
      const vm = await vms.create(actor, body, {
        dryRun,
        idempotencyKey: idempotencyKeyOf(req),
        ip,
      });
      return vm ? toVm(vm) : new Answer(200, { admitted: true });
    },
    getVm: async ({ params }, { actor }) => toVm(await vms.get(actor, params.vmId)),
    updateVm: async ({ params, body }, { actor, ip }) =>
      toVm(await vms.setNetwork(actor, params.vmId, body.network, ip)),
    openVmPort: async ({ params, body }, { actor, req }) =>
      ports.open(actor, await vms.get(actor, params.vmId), body.port, req),
    deleteVm: ({ params }, { actor, ip }) => vms.delete(actor, params.vmId, ip),
    vmActivity: async ({ params, query }, { actor }) => {
      const vm = await vms.get(actor, params.vmId);
      return { items: await listVmActivity(knex, vm.id, query.limit) };
    },
    startVm: act('start'),
    stopVm: act('stop'),
    rebootVm: act('reboot'),
    suspendVm: act('suspend'),
    resumeVm: act('resume'),
  };
}
