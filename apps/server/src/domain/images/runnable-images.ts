import type { DriverInfo } from '@labvisor/engine';
import type { ImageKind } from '@labvisor/shared';
import { AppError } from '../../errors.js';

const VM_IMAGE_KINDS: ImageKind[] = ['kernel', 'disk', 'iso'];

/**
 * The image kinds this host's engine runs: a driver with the `containers` feature (Incus) runs
 * container images, and virtual-machine images only when it also has `virtual-machines`; any
 * other driver (QEMU) runs virtual-machine images.
 */
export function runnableImageKinds(info: DriverInfo): ImageKind[] {
  if (!info.features.includes('containers')) return VM_IMAGE_KINDS;
  return ['container', ...(info.features.includes('virtual-machines') ? VM_IMAGE_KINDS : [])];
}

/** VALIDATION when this host's engine cannot run VMs of an image of `kind`. */
export function assertImageRunsHere(image: { name: string; kind: ImageKind }, info: DriverInfo) {
  if (runnableImageKinds(info).includes(image.kind)) return;
  const what = image.kind === 'container' ? 'a container image' : 'a virtual machine image';
  const host = info.features.includes('containers') ? 'system containers' : 'virtual machines';
  throw new AppError(
    'VALIDATION',
    `Image "${image.name}" is ${what}, and this host runs ${host}: choose another image.`,
    { field: 'imageId' },
  );
}
