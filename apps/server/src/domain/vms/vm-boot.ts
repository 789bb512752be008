import type { VmBoot } from '@labvisor/engine';
import type { ImageRow } from '../../db/queries/images.js';

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
