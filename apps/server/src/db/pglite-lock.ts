import fs from 'node:fs';

/**
 * An exclusive claim on an embedded PGlite directory: `<dir>.lock` holding the owner's pid. PGlite
 * is one process's database; a second process opening the same directory would corrupt it, so the
 * second one is refused while the owner lives. A lock left by a dead process is taken over.
 */
export interface PgliteLock {
  release(): void;
}

/** Thrown when another live process holds the directory. */
export class PgliteLockedError extends Error {
  override name = 'PgliteLockedError';
  constructor(
    readonly dir: string,
    readonly pid: number,
  ) {
    super(
      `The embedded database in ${dir} is in use by process ${pid} (a running Labvisor server?)`,
    );
  }
}

/** Takes the lock on `dir` for this process; throws {@link PgliteLockedError} if another holds it. */
export function lockPgliteDir(dir: string): PgliteLock {
  const file = `${dir}.lock`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, `${process.pid}\n`, { flag: 'wx' });
      return {
        release: () => {
          if (readPid(file) === process.pid) fs.rmSync(file, { force: true });
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const pid = readPid(file);
      if (pid !== undefined && pid !== process.pid && isAlive(pid)) {
        throw new PgliteLockedError(dir, pid);
      }
      fs.rmSync(file, { force: true });
    }
  }
  throw new Error(`Could not take the lock ${file}`);
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number.parseInt(fs.readFileSync(file, 'utf8'), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
