import { execFile } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { EngineError } from '../../errors.js';
import type { HomeDisk } from '../../spec.js';

const GIB = 1024 ** 3;
/** The serial a guest finds its home disk by (`/sys/block/vd*\/serial`). */
export const HOME_DISK_SERIAL = 'labvisor-home';
/** Who owns a new home's top folder: the Labvisor images' user (uid and gid 1000). */
const HOME_OWNER = '1000:1000';

/** e2fsprogs' mkfs.ext4, in sbin (which a non-root PATH may lack). */
function mkfsBinary(): string {
  return (
    ['/usr/sbin/mkfs.ext4', '/sbin/mkfs.ext4'].find((file) => fs.existsSync(file)) ?? 'mkfs.ext4'
  );
}

/**
 * Makes a home disk that does not exist yet: a sparse raw file of its size holding an empty ext4
 * labelled `labvisor-home`, its top folder owned by the images' user. Written aside and renamed,
 * so a crash never leaves half a home.
 */
export async function ensureHomeDisk(disk: HomeDisk): Promise<void> {
  if (fs.existsSync(disk.path)) return;
  await fsp.mkdir(path.dirname(disk.path), { recursive: true, mode: 0o700 });
  const partial = `${disk.path}.partial`;
  await fsp.rm(partial, { force: true });
  try {
    const handle = await fsp.open(partial, 'wx', 0o600);
    await handle.truncate(disk.sizeGib * GIB);
    await handle.close();
    await promisify(execFile)(mkfsBinary(), [
      '-q',
      '-F',
      '-L',
      HOME_DISK_SERIAL,
      '-m',
      '0',
      '-E',
      `root_owner=${HOME_OWNER}`,
      partial,
    ]);
    await fsp.rename(partial, disk.path);
  } catch (error) {
    await fsp.rm(partial, { force: true });
    throw new EngineError(
      'UNAVAILABLE',
      `Could not make the home disk (${(error as Error).message.split('\n')[0]})`,
    );
  }
}
