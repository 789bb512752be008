import { GUEST_USER_PATTERN, type GuestConfig, toHostname } from '@labvisor/engine';
import type { UserRow } from '../../db/queries/users.js';

/**
 * The password of the owner's account in a Debian guest (infra/images/debian-lab). A documented
 * default, shown on the guest's console above the login prompt: the console is reachable only
 * through the portal, which has already checked who the viewer is, and the guest's network takes
 * no connections from outside (QEMU user networking with restrict=on). Users change it with
 * `passwd`; the guest never resets it.
 */
export const GUEST_DEFAULT_PASSWORD = 'labvisor';

/** The login the guest gets when the owner's email gives no usable name. */
export const GUEST_FALLBACK_LOGIN = 'student';

/** Names the guest's own accounts use; an owner whose email starts with one gets the fallback. */
const SYSTEM_LOGINS = new Set([
  'root',
  'daemon',
  'bin',
  'sys',
  'sync',
  'games',
  'man',
  'lp',
  'mail',
  'news',
  'uucp',
  'proxy',
  'www-data',
  'backup',
  'list',
  'irc',
  'gnats',
  'nobody',
  'messagebus',
  'sshd',
  'admin',
  'sudo',
]);

/**
 * The guest login for a user: the local part of their email, lowercased, with anything a Linux
 * login cannot hold turned into `-` (`Ada.Lovelace@uni.example` → `ada-lovelace`).
 */
export function guestLoginOf(user: Pick<UserRow, 'email'>): string {
  const login = user.email
    .split('@')[0]!
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '-')
    .replace(/^[^a-z_]+/, '')
    .slice(0, 32)
    .replace(/-+$/, '');
  if (!GUEST_USER_PATTERN.test(login) || SYSTEM_LOGINS.has(login) || login.startsWith('systemd-')) {
    return GUEST_FALLBACK_LOGIN;
  }
  return login;
}

/** What the engine hands a new VM's guest: its name as hostname, the owner's login and password. */
export function guestConfigFor(vmName: string, owner: Pick<UserRow, 'email'>): GuestConfig {
  return {
    hostname: toHostname(vmName, 'lab'),
    user: { name: guestLoginOf(owner), password: GUEST_DEFAULT_PASSWORD },
  };
}
