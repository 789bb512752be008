import type { Engine, VmSpec } from '@labvisor/engine';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { ImageRow } from '../../db/queries/images.js';
import { bootOf } from './vm-boot.js';

/** What a template is built for: the image and the size VMs of it get. */
export interface TemplateSize {
  vcpus: number;
  memoryMib: number;
}

/**
 * The spec a template of `image` at `size` is built from: what a VM of that image and size would
 * get, less what is the VM's own (its id, name and guest configuration).
 */
export function templateSpecOf(image: ImageRow, size: TemplateSize): VmSpec {
  return {
    id: `template-of-${image.id}`,
    name: 'template',
    vcpus: size.vcpus,
    memoryMib: size.memoryMib,
    diskGib: image.default_disk_gib,
    boot: bootOf(image),
    guestAgent: true,
  };
}

/**
 * Builds, one after the other in the background, the template of every global image whose guest
 * runs the agent, at the image's default size: the first lab of a class then starts as a clone.
 * Already built templates are kept; a failure is logged and leaves that image booting. Then the
 * templates nothing can use any more are removed.
 */
export async function prepareDefaultTemplates(
  knex: Knex,
  engine: Engine,
  logger: Logger,
): Promise<void> {
  if (!engine.info().features.includes('templates')) return;
  const images = await knex<ImageRow>('images')
    .whereNull('tenant_id')
    .andWhere({ guest_agent: true })
    .orderBy('name');
  for (const image of images) {
    const size = { vcpus: image.default_vcpus, memoryMib: image.default_memory_mib };
    const started = Date.now();
    try {
      await engine.buildTemplate(templateSpecOf(image, size));
      logger.info(
        { image: image.name, ...size, durationMs: Date.now() - started },
        'template ready',
      );
    } catch (error) {
      logger.warn({ err: error, image: image.name }, 'building a template failed');
    }
  }
  // Templates of images rebuilt since, or of another QEMU, go once no VM rests on them.
  const removed = await engine.removeUnusedTemplates().catch((error: unknown) => {
    logger.warn({ err: error }, 'removing unused templates failed');
    return 0;
  });
  if (removed > 0) logger.info({ removed }, 'unused templates removed');
}
