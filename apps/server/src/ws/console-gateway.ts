import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Engine } from '@labvisor/engine';
import { type ErrorCode, LIVE_STATES, type VmState } from '@labvisor/shared';
import type { RequestHandler } from 'express';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { WebSocketServer } from 'ws';
import { recordAudit } from '../db/queries/audit.js';
import { findUserById, type UserRow } from '../db/queries/users.js';
import { type Actor, loadActor } from '../domain/auth/access.js';
import type { AccessChange, AccessEvents } from '../domain/auth/access-events.js';
import { authenticate } from '../domain/auth/authenticate.js';
import type { ConsoleConnections } from '../domain/consoles/console-connections.js';
import { ConsoleRecording } from '../domain/consoles/console-recordings.js';
import type { ConsoleTickets } from '../domain/consoles/console-tickets.js';
import type { ReplicaBus } from '../domain/replicas/replica-bus.js';
import type { VmService } from '../domain/vms/vm-service.js';
import { AppError, toAppError } from '../errors.js';
import { HTTP_STATUS_BY_CODE } from '../http/errors.js';
import { SerialConsoles } from './serial.js';
import { relayVnc } from './vnc.js';

const CONSOLE_PATH = /^\/ws\/vms\/([0-9a-f-]{36})\/(serial|vnc)$/;
/** Real input updates a VM's last activity at most this often. */
const ACTIVITY_WRITE_INTERVAL_MS = 10_000;
/** How long viewers get to answer the close of a shutdown before their sockets are cut. */
export const CLOSE_GRACE_MS = 2_000;
/** Frames larger than this from a browser are refused (keys and RFB messages are small). */
const MAX_FRAME_BYTES = 256 * 1024;
/** How long an upgrade waits for a starting VM (a console's ticket resumed it) to run. */
const START_WAIT_MS = 60_000;

/** One open console socket of this replica: who, on which VM, and its row in the database. */
interface OpenConsole {
  user: UserRow;
  vmId: string;
  connectionId: string;
}

/**
 * The WebSocket consoles: checks Origin, session or token, and a single-use ticket on the upgrade
 * of `/ws/vms/:vmId/serial` and `/ws/vms/:vmId/vnc`, then attaches the serial fan-out or a VNC relay.
 * Each open socket is recorded in the database ({@link ConsoleConnections}), so every replica
 * knows who is connected and one user's cap holds over all of them.
 */
export class ConsoleGateway {
  readonly #wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES });
  readonly #serial: SerialConsoles;
  readonly #lastActivityWrite = new Map<string, number>();
  /** Every open console socket with whom and what it shows, to re-check access when it changes. */
  readonly #open = new Map<import('ws').WebSocket, OpenConsole>();

  constructor(
    private readonly deps: {
      knex: Knex;
      engine: Engine;
      vms: VmService;
      tickets: ConsoleTickets;
      connections: ConsoleConnections;
      bus: ReplicaBus;
      sessionMiddleware: RequestHandler;
      /** The public origin when behind a proxy; otherwise the request's own Host is expected. */
      publicOrigin: string | undefined;
      accessEvents: AccessEvents;
      /** Where serial recordings (asciicast files) are written. */
      recordingsDir: string;
      logger: Logger;
    },
  ) {
    deps.accessEvents.on('access-changed', (change) => void this.#recheckAccess(change));
    deps.bus.on('message', (message) => {
      if (message.type === 'console-notice')
        void this.#serial.notify(message.vmId, message.message);
    });
    this.#serial = new SerialConsoles({
      openSerial: (vmId) => deps.engine.openConsole(vmId, 'serial'),
      onInput: (vmId) => this.#recordActivity(vmId),
      startRecording: (vmId) =>
        ConsoleRecording.startIfEnabled(deps.knex, {
          vmId,
          recordingsDir: deps.recordingsDir,
          logger: deps.logger,
        }),
      logger: deps.logger,
    });
    deps.engine.on('vm-state', (event) => {
      if (!LIVE_STATES.includes(event.state))
        void this.#serial.closeVm(event.vmId, `The VM is ${event.state}.`);
    });
  }

  /** Handler for the HTTP server's `upgrade` event. */
  readonly handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const match = CONSOLE_PATH.exec(url.pathname);
    if (!match) {
      refuse(socket, new AppError('NOT_FOUND', `No WebSocket endpoint at ${url.pathname}.`));
      return;
    }
    const [, vmId, kind] = match as unknown as [string, string, 'serial' | 'vnc'];
    this.#authorize(req, vmId, kind, url.searchParams.get('ticket') ?? '')
      .then(({ user, mode, tenantId, connectionId }) => {
        // The socket was recorded (its slot taken) in #authorize; the row goes when it ends.
        let upgraded = false;
        socket.once('close', () => {
          if (!upgraded) this.#forget(connectionId, vmId);
        });
        this.#wss.handleUpgrade(req, socket, head, (ws) => {
          upgraded = true;
          this.#open.set(ws, { user, vmId, connectionId });
          this.#recordOpened(user, { vmId, tenantId, kind, mode }, req.socket.remoteAddress);
          ws.on('close', () => {
            this.#open.delete(ws);
            this.#forget(connectionId, vmId);
          });
          if (kind === 'vnc') {
            relayVnc({
              socket: ws,
              openDisplay: () => this.deps.engine.openConsole(vmId, 'vnc'),
              mode,
              onInput: () => this.#recordActivity(vmId),
            });
            return;
          }
          this.#serial
            .attach(vmId, ws, { userId: user.id, name: user.name, mode })
            .catch((error: unknown) => {
              this.deps.logger.warn({ err: error, vmId }, 'serial console unavailable');
              ws.close(4404, 'The serial console is not available.');
            });
        });
      })
      .catch((error: unknown) => {
        const appError = toAppError(error);
        if (appError.code === 'INTERNAL')
          this.deps.logger.error({ err: error, vmId }, 'console upgrade failed');
        refuse(socket, appError);
      });
  };

  /**
   * Whether someone has an interactive console of the VM open, on any replica (it is in use,
   * even if idle).
   */
  hasInteractiveViewer(vmId: string): Promise<boolean> {
    return this.deps.connections.hasInteractive(vmId);
  }

  /** Tells the viewers of a VM's serial console something about the VM, on every replica. */
  notify(vmId: string, message: string): Promise<void> {
    return this.deps.bus.publish({ type: 'console-notice', vmId, message });
  }

  /** The sockets open now (for metrics and tests). */
  get openSockets(): number {
    return this.#wss.clients.size;
  }

  /**
   * Closes every console; viewers are told the server restarts (1012) and reconnect. A viewer that
   * does not finish the close within {@link CLOSE_GRACE_MS} (a flooding one, a dead network) is cut
   * off, so a shutdown never waits on a socket.
   */
  async close(): Promise<void> {
    await this.#serial.closeAll();
    for (const client of this.#wss.clients) client.close(1012, 'The server is restarting.');
    const deadline = Date.now() + CLOSE_GRACE_MS;
    while (this.#wss.clients.size > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    for (const client of this.#wss.clients) client.terminate();
    this.#wss.close();
  }

  /**
   * Checks an upgrade, then records its socket, which takes one of the user's console slots
   * (RATE_LIMITED past the cap, counted over every replica).
   */
  async #authorize(req: IncomingMessage, vmId: string, kind: 'serial' | 'vnc', ticket: string) {
    const actor = await this.#authenticate(req);
    const user = actor.user;
    // Redeemed before the Origin check, so a ticket tried from a foreign page is used up.
    const grant = await this.deps.tickets.redeem(ticket, { userId: user.id, vmId, kind });
    if ('refused' in grant) throw new AppError('FORBIDDEN', grant.refused);
    this.#checkOrigin(req);
    const vm = await this.deps.vms.get(actor, vmId);
    // A VM on its way up (resumed by the console's ticket) is waited for.
    const state = vm.state === 'starting' ? await this.#settledState(vmId) : vm.state;
    if (!LIVE_STATES.includes(state)) {
      throw new AppError('INVALID_STATE', `VM "${vm.name}" is ${state}.`);
    }
    const connectionId = await this.deps.connections.open({
      userId: user.id,
      vmId,
      kind,
      mode: grant.mode,
    });
    return { user, mode: grant.mode, tenantId: vm.tenant_id, connectionId };
  }

  /** The engine's state of a starting VM once it is no longer starting (or after the wait). */
  async #settledState(vmId: string): Promise<VmState> {
    const deadline = Date.now() + START_WAIT_MS;
    for (;;) {
      const { state } = await this.deps.engine.getVm(vmId);
      if (state !== 'starting' || Date.now() >= deadline) return state;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  /** Removes a closed socket's row (its slot is free again) and tells the VM's watchers. */
  #forget(connectionId: string, vmId: string): void {
    this.deps.connections
      .close(connectionId)
      .then(() => this.deps.vms.announceActivity(vmId))
      .catch((error: unknown) =>
        this.deps.logger.warn({ err: error }, 'forgetting a closed console failed'),
      );
  }

  /** Writes who opened which console to the audit log (the VM's activity). */
  #recordOpened(
    user: UserRow,
    console: {
      vmId: string;
      tenantId: string;
      kind: 'serial' | 'vnc';
      mode: 'interactive' | 'view';
    },
    ip: string | undefined,
  ): void {
    recordAudit(this.deps.knex, {
      actorId: user.id,
      tenantId: console.tenantId,
      action: 'console.open',
      targetType: 'vm',
      targetId: console.vmId,
      ip,
      details: { kind: console.kind, mode: console.mode },
    })
      .then(() => this.deps.vms.announceActivity(console.vmId))
      .catch((error: unknown) =>
        this.deps.logger.warn(
          { err: error, vmId: console.vmId },
          'recording a console open failed',
        ),
      );
  }

  /** Closes the consoles of anyone who can no longer see the VM they watch. */
  async #recheckAccess(change: AccessChange): Promise<void> {
    for (const [socket, { user, vmId }] of this.#open) {
      if (change.userId && change.userId !== user.id) continue;
      try {
        const fresh = await findUserById(this.deps.knex, user.id);
        if (!fresh || fresh.disabled) throw new AppError('FORBIDDEN', 'Your account was disabled.');
        await this.deps.vms.get(await loadActor(this.deps.knex, fresh), vmId);
      } catch {
        socket.close(4404, 'Your access to this VM was removed.');
      }
    }
  }

  #checkOrigin(req: IncomingMessage): void {
    const origin = req.headers.origin;
    const expected = this.deps.publicOrigin ?? `http://${req.headers.host}`;
    const allowed = [expected, expected.replace(/^http:/, 'https:')];
    if (!origin || !allowed.includes(origin)) {
      throw new AppError('FORBIDDEN', `Console connections are accepted only from ${expected}.`);
    }
  }

  /** Who opens the console: the same authentication path as HTTP requests (API token or session). */
  async #authenticate(req: IncomingMessage): Promise<Actor> {
    const authenticated = await authenticate(this.deps.knex, {
      authorization: req.headers.authorization,
      sessionUserId: req.headers.authorization ? undefined : await this.#sessionUserId(req),
    });
    if (!authenticated) throw new AppError('UNAUTHENTICATED', 'Sign in first.');
    return authenticated.actor;
  }

  /** The user id the upgrade's session cookie holds, read through the session middleware. */
  #sessionUserId(req: IncomingMessage): Promise<string | undefined> {
    const request = req as IncomingMessage & {
      session?: { passport?: { user?: string } };
      originalUrl?: string;
    };
    request.originalUrl = req.url;
    return new Promise((resolve, reject) =>
      this.deps.sessionMiddleware(
        request as never,
        {} as ServerResponse as never,
        (error?: unknown) => (error ? reject(error) : resolve(request.session?.passport?.user)),
      ),
    );
  }

  #recordActivity(vmId: string): void {
    const now = Date.now();
    if (now - (this.#lastActivityWrite.get(vmId) ?? 0) < ACTIVITY_WRITE_INTERVAL_MS) return;
    this.#lastActivityWrite.set(vmId, now);
    this.deps
      .knex('vms')
      .where({ id: vmId })
      .update({ last_activity_at: this.deps.knex.fn.now() })
      .catch((error: unknown) =>
        this.deps.logger.warn({ err: error, vmId }, 'recording console activity failed'),
      );
  }
}

const STATUS_TEXT: Partial<Record<ErrorCode, string>> = {
  UNAUTHENTICATED: 'Unauthorized',
  FORBIDDEN: 'Forbidden',
  NOT_FOUND: 'Not Found',
  INVALID_STATE: 'Conflict',
  RATE_LIMITED: 'Too Many Requests',
};

/** Answers a refused upgrade with the contract's error body and closes the socket. */
function refuse(socket: Duplex, error: AppError): void {
  const body = JSON.stringify(error.toBody());
  socket.end(
    `HTTP/1.1 ${HTTP_STATUS_BY_CODE[error.code]} ${STATUS_TEXT[error.code] ?? 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
