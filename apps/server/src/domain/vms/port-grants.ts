import { createHmac, timingSafeEqual } from 'node:crypto';

/** How long the link `POST /api/v1/vms/:vmId/ports` answers may be followed. */
export const PORT_LINK_TTL_MS = 60_000;
/** How long the cookie the link sets lets its browser use the port. */
export const PORT_COOKIE_TTL_MS = 8 * 3600_000;

/** What a port grant lets its holder do: a VM's port, as a user, fully or read-only. */
export interface PortGrant {
  vmId: string;
  port: number;
  userId: string;
  access: 'full' | 'read-only';
  /** `link`: the one-minute link; `cookie`: the browser's cookie on the port's host. */
  kind: 'link' | 'cookie';
  /** Milliseconds since the epoch. */
  expiresAt: number;
}

/**
 * Signed port grants (HMAC-SHA256 under a key derived from the session secret): any replica can
 * check one, and none is stored. A grant names its VM and port, so it opens nothing else.
 */
export class PortGrants {
  readonly #key: Buffer;

  constructor(
    sessionSecret: string,
    private readonly now: () => number = Date.now,
  ) {
    this.#key = createHmac('sha256', sessionSecret).update('labvisor guest ports').digest();
  }

  /** A grant of `kind` for `grant`, valid for its time to live. */
  sign(grant: Omit<PortGrant, 'expiresAt'>): { token: string; expiresAt: Date } {
    const ttl = grant.kind === 'link' ? PORT_LINK_TTL_MS : PORT_COOKIE_TTL_MS;
    const full: PortGrant = { ...grant, expiresAt: this.now() + ttl };
    const payload = Buffer.from(JSON.stringify(full)).toString('base64url');
    return { token: `${payload}.${this.#mac(payload)}`, expiresAt: new Date(full.expiresAt) };
  }

  /** The grant a token holds, if it is genuine, of `kind`, for this VM and port, and unexpired. */
  verify(
    token: string,
    expected: { vmId: string; port: number; kind: PortGrant['kind'] },
  ): PortGrant | undefined {
    const [payload, mac] = token.split('.');
    if (!payload || !mac) return undefined;
    const wanted = Buffer.from(this.#mac(payload));
    const given = Buffer.from(mac);
    if (wanted.length !== given.length || !timingSafeEqual(wanted, given)) return undefined;
    let grant: PortGrant;
    try {
      grant = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as PortGrant;
    } catch {
      return undefined;
    }
    if (grant.vmId !== expected.vmId || grant.port !== expected.port) return undefined;
    if (grant.kind !== expected.kind || grant.expiresAt < this.now()) return undefined;
    return grant;
  }

  #mac(payload: string): string {
    return createHmac('sha256', this.#key).update(payload).digest('base64url');
  }
}
