import type { Response } from 'express';
import type { Actor } from '../domain/auth/access.js';
import type { AccessEvents } from '../domain/auth/access-events.js';
import type { ReplicaBus } from '../domain/replicas/replica-bus.js';
import { canSeeVm, type VmAudience } from '../domain/vms/vm-visibility.js';
import { AppError } from '../errors.js';

/** Most event streams one user may hold open (tabs), so one user cannot hold the server's sockets. */
export const MAX_EVENT_STREAMS_PER_USER = 10;
/** A comment sent this often keeps proxies from closing a quiet stream. */
const KEEPALIVE_MS = 25_000;
/** A stream whose reader is this far behind is ended; the browser reconnects and reloads. */
const MAX_PENDING_BYTES = 1024 * 1024;

interface Stream {
  res: Response;
  actor: Actor;
}

/**
 * Server-sent events of VM changes (`GET /api/v1/events`): each open page gets, for every VM its
 * user can see, the VM as the API answers it whenever it changes, so a page costs nothing while
 * nothing changes. Changes come over the replica bus, so a page follows changes made through any
 * replica; streams of a user whose access changed are ended (the browser reconnects with the new
 * access).
 */
export class VmEventStreams {
  readonly #streams = new Set<Stream>();
  readonly #keepalive: NodeJS.Timeout;

  constructor(bus: ReplicaBus, accessEvents: AccessEvents) {
    bus.on('message', (message) => {
      if (message.type === 'vm-changed') this.#send(message.audience, 'vm', message.vm);
      if (message.type === 'vm-deleted')
        this.#send(message.audience, 'vm-deleted', { id: message.id });
    });
    accessEvents.on('access-changed', (change) => {
      for (const stream of this.#streams) {
        if (!change.userId || change.userId === stream.actor.user.id) stream.res.end();
      }
    });
    this.#keepalive = setInterval(() => {
      for (const stream of this.#streams) stream.res.write(': keep-alive\n\n');
    }, KEEPALIVE_MS);
    this.#keepalive.unref();
  }

  /** Serves one stream to the actor until either side closes it. */
  open(res: Response, actor: Actor): void {
    const held = [...this.#streams].filter((s) => s.actor.user.id === actor.user.id).length;
    if (held >= MAX_EVENT_STREAMS_PER_USER) {
      throw new AppError(
        'RATE_LIMITED',
        `You have ${MAX_EVENT_STREAMS_PER_USER} pages following your labs; close one first.`,
      );
    }
    res.status(200);
    res.set({
      'Content-Type': 'text/event-stream',
      'Cache-Control': 'no-cache, no-transform',
      'X-Accel-Buffering': 'no',
    });
    res.flushHeaders();
    res.write('retry: 3000\n\n');
    const stream: Stream = { res, actor };
    this.#streams.add(stream);
    res.on('close', () => this.#streams.delete(stream));
  }

  /** Ends every stream (server shutdown). */
  close(): void {
    clearInterval(this.#keepalive);
    for (const stream of this.#streams) stream.res.end();
    this.#streams.clear();
  }

  /** Sends the event to every stream whose user can see the VM. */
  #send(audience: VmAudience, event: string, payload: unknown): void {
    let data: string | undefined;
    for (const stream of this.#streams) {
      if (!canSeeVm(stream.actor, audience)) continue;
      data ??= JSON.stringify(payload);
      if (stream.res.writableLength > MAX_PENDING_BYTES) {
        stream.res.end();
        continue;
      }
      stream.res.write(`event: ${event}\ndata: ${data}\n\n`);
    }
  }
}
