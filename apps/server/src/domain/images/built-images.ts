import fs from 'node:fs/promises';
import path from 'node:path';
import { addToImageStore, storedImagePath } from '@labvisor/engine';
import type { Knex } from 'knex';
import { z } from 'zod';

/** The manifest a guest image recipe writes beside its files (infra/images/<name>/build.sh). */
const builtImageManifestSchema = z.object({
  name: z.string(),
  kernelVersion: z.string().optional(),
  cmdline: z.string().optional(),
  /** The serial port the image's Labvisor agent listens on (its VMs can start from templates). */
  guestAgent: z.literal('ttyS1').optional(),
  files: z.union([
    z.object({
      kernel: z.object({ path: z.string(), sha256: z.string() }).optional(),
      initrd: z.object({ path: z.string(), sha256: z.string() }).optional(),
      disk: z.object({ path: z.string(), sha256: z.string(), format: z.enum(['qcow2', 'raw']) }),
    }),
    // A container image (infra/images/tiny-container): one tarball, run by the Incus driver.
    z.object({
      container: z.object({
        path: z.string(),
        sha256: z.string(),
        format: z.literal('incus-unified'),
      }),
    }),
  ]),
  /** What a VM of the image should get; manifests written before recipes named it get the tiny's. */
  defaults: z
    .object({
      vcpus: z.int().min(1),
      memoryMib: z.int().min(32),
      diskGib: z.int().min(1),
    })
    .default({ vcpus: 1, memoryMib: 256, diskGib: 1 }),
});

/**
 * Registers a built image (from the image cache) as a global image: its files are copied into the
 * data directory's content-addressed store and made read-only, so a later rebuild of the cache never
 * changes a base under existing VMs. Idempotent: an image with the same name and disk checksum is kept.
 */
export async function registerBuiltImage(
  knex: Knex,
  options: { manifestDir: string; imagesDir: string },
): Promise<{ id: string; created: boolean }> {
  const manifestPath = path.join(options.manifestDir, 'manifest.json');
  const manifest = builtImageManifestSchema.parse(
    JSON.parse(await fs.readFile(manifestPath, 'utf8')),
  );
  const files = manifest.files;
  const disk = 'container' in files ? files.container : files.disk;
  const existing = await knex('images')
    .whereNull('tenant_id')
    .andWhere({ name: manifest.name })
    .first<{ id: string; sha256: string } | undefined>('id', 'sha256');
  if (existing && existing.sha256 === disk.sha256) return { id: existing.id, created: false };

  const stored = async (file: { path: string } | undefined) => {
    if (!file) return null;
    const target = storedImagePath(options.imagesDir, disk.sha256, path.basename(file.path));
    await addToImageStore(path.join(options.manifestDir, file.path), target, 'copy');
    return target;
  };
  const diskPath = (await stored(disk))!;
  const kernelPath = 'kernel' in files ? await stored(files.kernel) : null;
  const initrdPath = 'initrd' in files ? await stored(files.initrd) : null;
  const { size } = await fs.stat(diskPath);
  const row = {
    name: manifest.name,
    kind: 'container' in files ? 'container' : kernelPath ? 'kernel' : 'disk',
    format: disk.format,
    path: diskPath,
    kernel_path: kernelPath,
    initrd_path: initrdPath,
    cmdline: manifest.cmdline ?? null,
    size_bytes: size,
    sha256: disk.sha256,
    default_vcpus: manifest.defaults.vcpus,
    default_memory_mib: manifest.defaults.memoryMib,
    default_disk_gib: manifest.defaults.diskGib,
    guest_agent: manifest.guestAgent !== undefined,
  };
  if (existing) {
    // A rebuilt recipe: the new files replace the old base only for VMs created from now on.
    await knex('images').where({ id: existing.id }).update(row);
    return { id: existing.id, created: false };
  }
  const [inserted] = await knex('images').insert(row).returning<{ id: string }[]>('id');
  return { id: inserted!.id, created: true };
}

/** What {@link registerCachedImages} did with one cached image. */
export type CachedImageRegistration =
  | { name: string; id: string; created: boolean }
  | { name: string; error: string };

/**
 * Registers every complete image in the image cache (`<cacheDir>/images/<name>/manifest.json`),
 * idempotently: the server does this at each start, so an image built while the server ran (and
 * held the embedded database) appears at the next start.
 */
export async function registerCachedImages(
  knex: Knex,
  options: { cacheDir: string; imagesDir: string },
): Promise<CachedImageRegistration[]> {
  const root = path.join(options.cacheDir, 'images');
  const entries = await fs.readdir(root, { withFileTypes: true }).catch(() => []);
  // Hidden entries are builds in progress or old builds being removed.
  const names = entries
    .filter((entry) => entry.isDirectory() && !entry.name.startsWith('.'))
    .map((entry) => entry.name)
    .sort();
  const registered: CachedImageRegistration[] = [];
  for (const name of names) {
    const manifestDir = path.join(root, name);
    const complete = await fs.access(path.join(manifestDir, 'manifest.json')).then(
      () => true,
      () => false,
    );
    if (!complete) continue;
    try {
      const result = await registerBuiltImage(knex, { manifestDir, imagesDir: options.imagesDir });
      registered.push({ name, ...result });
    } catch (error) {
      // One broken cache entry must not keep the server from starting with the others.
      registered.push({ name, error: error instanceof Error ? error.message : String(error) });
    }
  }
  return registered;
}

/**
 * The kernel and initramfs of the global `tiny` image, which the engine boots to probe KVM (a
 * real kernel, as real guests are); undefined while it is not registered.
 */
export async function findProbeGuest(
  knex: Knex,
): Promise<{ kernelPath: string; initrdPath: string } | undefined> {
  const row = await knex('images')
    .whereNull('tenant_id')
    .andWhere({ name: 'tiny', kind: 'kernel' })
    .first<{ kernel_path: string | null; initrd_path: string | null } | undefined>(
      'kernel_path',
      'initrd_path',
    );
  return row?.kernel_path && row.initrd_path
    ? { kernelPath: row.kernel_path, initrdPath: row.initrd_path }
    : undefined;
}
