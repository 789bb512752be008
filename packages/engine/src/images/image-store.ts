import fs from 'node:fs/promises';
import path from 'node:path';

/**
 * The content-addressed image store: every image file lives at `<imagesDir>/<sha256>/<file>`, where
 * the checksum is that of the image's disk, and is read-only (0444). A file already there holds the
 * same content, so it is kept rather than written again.
 */

/** The path in the store of an image's file. */
export function storedImagePath(imagesDir: string, sha256: string, fileName: string): string {
  return path.join(imagesDir, sha256, fileName);
}

/**
 * Puts `source` into the store at `target` (a path from storedImagePath), read-only. `copy` leaves
 * the source alone; `move` renames it (same file system) or removes it when the target exists.
 */
export async function addToImageStore(
  source: string,
  target: string,
  how: 'copy' | 'move',
): Promise<void> {
  await fs.mkdir(path.dirname(target), { recursive: true });
  if (await exists(target)) {
    if (how === 'move') await fs.rm(source, { force: true });
    return;
  }
  if (how === 'move') {
    await fs.chmod(source, 0o444);
    await fs.rename(source, target);
    return;
  }
  const partial = `${target}.partial`;
  await fs.copyFile(source, partial);
  await fs.chmod(partial, 0o444);
  await fs.rename(partial, target);
}

/** Removes a file from the store, and its folder once empty; the caller knows no image uses it. */
export async function removeFromImageStore(file: string): Promise<void> {
  await fs.rm(file, { force: true });
  await fs.rmdir(path.dirname(file)).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOTEMPTY' && error.code !== 'ENOENT') throw error;
  });
}

async function exists(file: string): Promise<boolean> {
  try {
    await fs.access(file);
    return true;
  } catch {
    return false;
  }
}
