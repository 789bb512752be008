import http, { type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import type { Duplex } from 'node:stream';
import { type Engine, isEngineError } from '@labvisor/engine';
import type { OpenVmPortResponse } from '@labvisor/shared';
import type { NextFunction, Request, Response } from 'express';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { findUserWithRolesById, splitRoles } from '../db/queries/users.js';
import { findVmById, type VmRow } from '../db/queries/vms.js';
import type { Actor } from '../domain/auth/access.js';
import { type PortGrant, PortGrants } from '../domain/vms/port-grants.js';
import { canSeeVm } from '../domain/vms/vm-visibility.js';
import { AppError } from '../errors.js';

/** The cookie a port's host keeps its browser's grant in. */
export const PORT_COOKIE = 'labvisor_port';
/** The path on a port's host that turns a link into the cookie. */
export const PORT_OPEN_PATH = '/__labvisor/open';

/** Headers that belong to one hop, never forwarded. */
const HOP_HEADERS = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'upgrade',
]);

/**
 * A lab's web app in the browser: a running VM's TCP port served on a host name of its own,
 * `p<port>-<vmId>.<ports domain>` (the portal's session cookie is never sent there, and the app's
 * scripts run in an origin apart from the portal's). `open` answers a signed one-minute link for
 * whoever may see the VM; following it sets a cookie on that host only, and every request with it
 * is checked again (the VM still visible, the owner for anything but GET and HEAD) and forwarded
 * to the guest through the engine, WebSocket upgrades included.
 */
export class GuestPortProxy {
  readonly #deps: {
    knex: Knex;
    engine: Engine;
    domain: string;
    publicOrigin: string | undefined;
    logger: Logger;
  };
  readonly #grants: PortGrants;
  readonly #hostPattern: RegExp;

  constructor(deps: {
    knex: Knex;
    engine: Engine;
    sessionSecret: string;
    /** Port hosts are `p<port>-<vmId>.<domain>`. */
    domain: string;
    publicOrigin: string | undefined;
    logger: Logger;
  }) {
    this.#deps = deps;
    this.#grants = new PortGrants(deps.sessionSecret);
    const domain = deps.domain.replaceAll('.', '\\.');
    this.#hostPattern = new RegExp(
      `^p(\\d{1,5})-([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\\.${domain}(?::\\d+)?$`,
      'i',
    );
  }

  /** The VM and port a request's Host names, if it is a port's host. */
  targetOf(req: IncomingMessage): { vmId: string; port: number } | undefined {
    const match = this.#hostPattern.exec(req.headers.host ?? '');
    if (!match) return undefined;
    const port = Number(match[1]);
    return port >= 1 && port <= 65_535 ? { vmId: match[2]!.toLowerCase(), port } : undefined;
  }

  /**
   * A link that opens `port` of `vm` for `actor` (who can see it): checks the port answers first,
   * so that a mistyped port is said at once, not as a broken page.
   */
  async open(actor: Actor, vm: VmRow, port: number, req: Request): Promise<OpenVmPortResponse> {
    const probe = await this.#connect(vm.id, port);
    probe.destroy();
    const access = vm.owner_id === actor.user.id ? 'full' : 'read-only';
    const link = this.#grants.sign({
      vmId: vm.id,
      port,
      userId: actor.user.id,
      access,
      kind: 'link',
    });
    const origin = new URL(this.#deps.publicOrigin ?? `${req.protocol}://${req.get('host')}`);
    origin.hostname = `p${port}-${vm.id}.${this.#deps.domain}`;
    return {
      url: `${origin.origin}${PORT_OPEN_PATH}?grant=${link.token}`,
      access,
      expiresAt: link.expiresAt.toISOString(),
    };
  }

  /** Express middleware: serves port hosts, passes every other request on. */
  readonly middleware = (req: Request, res: Response, next: NextFunction): void => {
    const target = this.targetOf(req);
    if (!target) {
      next();
      return;
    }
    void this.#serve(req, res, target).catch((error: unknown) => {
      this.#deps.logger.error({ err: error, ...target }, 'serving a guest port failed');
      if (!res.headersSent) sendPage(res, 502, 'The lab’s port could not be reached.');
      else res.destroy();
    });
  };

  /** The HTTP server's `upgrade` for port hosts (WebSockets of the lab's app; owners only). */
  async handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', () => {});
    const target = this.targetOf(req)!;
    const grant = await this.#allowed(req, target);
    if (grant?.access !== 'full' || req.method !== 'GET') {
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    let guest: Duplex;
    try {
      guest = await this.#connect(target.vmId, target.port);
    } catch {
      socket.end('HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const lines = [`${req.method} ${req.url} HTTP/1.1`];
    const raw = req.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!;
      const value = name.toLowerCase() === 'cookie' ? withoutPortCookie(raw[i + 1]!) : raw[i + 1]!;
      if (value !== '') lines.push(`${name}: ${value}`);
    }
    guest.write(`${lines.join('\r\n')}\r\n\r\n`);
    if (head.length > 0) guest.write(head);
    guest.on('error', () => socket.destroy());
    socket.on('close', () => guest.destroy());
    guest.pipe(socket);
    socket.pipe(guest);
  }

  async #serve(req: Request, res: Response, target: { vmId: string; port: number }) {
    if (req.path === PORT_OPEN_PATH) return this.#redeemLink(req, res, target);
    const grant = await this.#allowed(req, target);
    if (!grant) {
      return sendPage(res, 403, 'Open this port from its lab’s page in Labvisor.');
    }
    if (grant.access !== 'full' && req.method !== 'GET' && req.method !== 'HEAD') {
      return sendPage(res, 405, 'You may only look at this lab’s app (read-only).');
    }
    let guest: Duplex;
    try {
      guest = await this.#connect(target.vmId, target.port);
    } catch (error) {
      return sendPage(
        res,
        502,
        error instanceof AppError ? error.message : 'The lab’s port could not be reached.',
      );
    }
    const forwarded = http.request({
      method: req.method,
      path: req.originalUrl,
      headers: forwardedHeaders(req),
      createConnection: () => guest as never,
    });
    forwarded.on('response', (answer) => {
      const headers: OutgoingHttpHeaders = {};
      for (const [name, value] of Object.entries(answer.headers)) {
        if (!HOP_HEADERS.has(name) && value !== undefined) headers[name] = value;
      }
      res.writeHead(answer.statusCode ?? 502, headers);
      answer.pipe(res);
    });
    forwarded.on('error', () => {
      if (!res.headersSent) sendPage(res, 502, 'The lab’s app closed the connection.');
      else res.destroy();
    });
    req.pipe(forwarded);
  }

  /** Turns a link's grant into the cookie of this host, then shows the app's root. */
  #redeemLink(req: Request, res: Response, target: { vmId: string; port: number }): void {
    const token = typeof req.query.grant === 'string' ? req.query.grant : '';
    const link = this.#grants.verify(token, { ...target, kind: 'link' });
    if (!link) {
      sendPage(res, 403, 'This link has expired; open the port again from its lab’s page.');
      return;
    }
    const cookie = this.#grants.sign({ ...link, kind: 'cookie' });
    const secure = req.protocol === 'https' ? '; Secure' : '';
    res.setHeader(
      'Set-Cookie',
      `${PORT_COOKIE}=${cookie.token}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${8 * 3600}${secure}`,
    );
    res.redirect(302, '/');
  }

  /**
   * The request's grant if its cookie holds one for this port and its user may still see the
   * VM (the owner keeps full access, anyone else who may see it read-only).
   */
  async #allowed(
    req: IncomingMessage,
    target: { vmId: string; port: number },
  ): Promise<PortGrant | undefined> {
    const token = readCookie(req.headers.cookie, PORT_COOKIE);
    const grant = token && this.#grants.verify(token, { ...target, kind: 'cookie' });
    if (!grant) return undefined;
    const [vm, user] = await Promise.all([
      findVmById(this.#deps.knex, target.vmId),
      findUserWithRolesById(this.#deps.knex, grant.userId),
    ]);
    if (!vm || !user || user.disabled) return undefined;
    if (!canSeeVm(splitRoles(user), vm)) return undefined;
    return { ...grant, access: vm.owner_id === grant.userId ? grant.access : 'read-only' };
  }

  /** The guest's port as a stream; AppError with a sentence when it cannot be had. */
  async #connect(vmId: string, port: number): Promise<Duplex> {
    try {
      return await this.#deps.engine.openGuestPort(vmId, port);
    } catch (error) {
      if (!isEngineError(error)) throw error;
      if (error.code === 'INVALID_STATE')
        throw new AppError('INVALID_STATE', 'Start the lab to open its ports.', { port });
      if (error.code === 'VALIDATION') {
        throw new AppError(
          'VALIDATION',
          'This lab has no network: give it one while it is stopped to open its ports.',
          { field: 'port', port },
        );
      }
      throw new AppError(
        'UNAVAILABLE',
        `Nothing answers on port ${port} of this lab. Is its app listening on all addresses (0.0.0.0)?`,
        { port },
      );
    }
  }
}

/** The request's headers for the guest: without hop-by-hop ones and this host's grant cookie. */
function forwardedHeaders(req: Request): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (HOP_HEADERS.has(name) || value === undefined) continue;
    if (name === 'cookie') {
      const rest = withoutPortCookie(String(value));
      if (rest !== '') headers.cookie = rest;
      continue;
    }
    headers[name] = value;
  }
  headers['x-forwarded-proto'] = req.protocol;
  headers['x-forwarded-host'] = req.get('host');
  if (req.ip) headers['x-forwarded-for'] = req.ip;
  return headers;
}

/** A Cookie header without this host's grant. */
function withoutPortCookie(header: string): string {
  return header
    .split(';')
    .map((part) => part.trim())
    .filter((part) => part !== '' && !part.startsWith(`${PORT_COOKIE}=`))
    .join('; ');
}

function readCookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const [key, ...value] = part.trim().split('=');
    if (key === name) return value.join('=');
  }
  return undefined;
}

/** A small page with one sentence, for a browser on a port's host. */
function sendPage(res: Response, status: number, sentence: string): void {
  const text = sentence.replaceAll('&', '&amp;').replaceAll('<', '&lt;');
  res
    .status(status)
    .type('html')
    .send(
      `<!doctype html><html lang="en"><meta charset="utf-8"><title>Labvisor</title><body><main><h1>${text}</h1></main></body></html>`,
    );
}
