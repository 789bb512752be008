import type { VmBoot, VmSpec } from '@labvisor/engine';
import type { Knex } from 'knex';
import type { ImageRow } from '../../db/queries/images.js';
import { findTenantById, type TenantRow } from '../../db/queries/tenants.js';
import type { VmRow } from '../../db/queries/vms.js';
import { vmNetworkOf } from './network-policy.js';

/** How a VM boots from its image. */
export function bootOf(image: ImageRow): VmBoot {
  if (image.kind === 'iso') return { kind: 'iso', isoPath: image.path };
  if (image.kind === 'container') return { kind: 'container', imagePath: image.path };
  const baseDiskFormat = image.format === 'raw' ? 'raw' : 'qcow2';
  if (image.kind === 'kernel') {
    return {
      kind: 'kernel',
      kernelPath: image.kernel_path!,
      initrdPath: image.initrd_path!,
      cmdline: image.cmdline ?? '',
      baseDiskPath: image.path,
      baseDiskFormat,
    };
  }
  return { kind: 'disk', baseDiskPath: image.path, baseDiskFormat };
}

/**
 * The engine's spec of a VM from its row, image and tenant; without the guest's identity (given
 * at creation only).
 */
export function vmSpecOf(vm: VmRow, image: ImageRow, tenant: TenantRow): VmSpec {
  return {
    id: vm.id,
    name: vm.name,
    vcpus: vm.vcpus,
    memoryMib: vm.memory_mib,
    diskGib: vm.disk_gib,
    boot: bootOf(image),
    ...(image.guest_agent ? { guestAgent: true } : {}),
    network: vmNetworkOf(vm.network, tenant),
    project: vm.tenant_id,
  };
}

/**
 * The spec of a VM the database holds, for an engine that did not make it (server replicas on a
 * shared cluster: another replica did); undefined when there is no such VM.
 */
export async function readVmSpec(knex: Knex, vmId: string): Promise<VmSpec | undefined> {
  const vm = await knex<VmRow>('vms').where({ id: vmId }).first();
  if (!vm) return undefined;
  const image = await knex<ImageRow>('images').where({ id: vm.image_id }).first();
  const tenant = await findTenantById(knex, vm.tenant_id);
  return image && tenant ? vmSpecOf(vm, image, tenant) : undefined;
}
