import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import { promisify } from 'node:util';

/** The account a root server's QEMU runs as unless another is configured; made when missing. */
export const DEFAULT_QEMU_USER = 'labvisor-qemu';

/** How the default account is made: a system account and group, with no home and no shell. */
const USERADD_ARGS = [
  '--system',
  '--user-group',
  '--no-create-home',
  '--home-dir',
  '/nonexistent',
  '--shell',
  '/usr/sbin/nologin',
];

/** An account QEMU drops to once it has opened a VM's files. */
export interface QemuUser {
  name: string;
  uid: number;
  gid: number;
}

/**
 * The account QEMU runs as (`-runas`), or undefined when QEMU keeps the server's own user. A
 * server running as root never lets QEMU keep root: QEMU opens the VM's files (disks, sockets,
 * its log) as root, then drops to `configured` (which must exist and not be root) or to
 * {@link DEFAULT_QEMU_USER}, made here as a system account with no home and no shell. A server
 * that is not root cannot change QEMU's user, so asking it to is an error.
 */
export async function resolveQemuUser(
  configured: string | undefined,
): Promise<QemuUser | undefined> {
  if (process.getuid?.() !== 0) {
    if (configured) {
      throw new Error(
        `QEMU cannot run as "${configured}": only a server running as root can change QEMU's user`,
      );
    }
    return undefined;
  }
  const name = configured ?? DEFAULT_QEMU_USER;
  let user = await findAccount(name);
  if (!user && !configured) {
    const useradd = [...USERADD_ARGS, name];
    try {
      await promisify(execFile)('useradd', useradd);
    } catch (error) {
      // E.g. /etc read-only under systemd's ProtectSystem=strict.
      throw new Error(
        `QEMU's account "${name}" could not be made (${(error as Error).message.split('\n')[0]}); make it with: useradd ${useradd.join(' ')}`,
      );
    }
    user = await findAccount(name);
  }
  if (!user) throw new Error(`QEMU cannot run as "${name}": there is no such account`);
  if (user.uid === 0) throw new Error(`QEMU cannot run as "${name}": it is root`);
  return user;
}

/** An account from `/etc/passwd`, or undefined. */
async function findAccount(name: string): Promise<QemuUser | undefined> {
  const passwd = await fs.readFile('/etc/passwd', 'utf8');
  for (const line of passwd.split('\n')) {
    const [account, , uid, gid] = line.split(':');
    if (account === name) return { name, uid: Number(uid), gid: Number(gid) };
  }
  return undefined;
}
