import type WebSocket from 'ws';
import type { EngineLogger } from '../../logger.js';
import type { IncusClient } from './incus-client.js';

/** How long after a lost event stream it is opened again. */
const RECONNECT_MS = 2_000;

/**
 * Follows the cluster's lifecycle events (`/1.0/events?type=lifecycle`, every project, every
 * member's events on any member) and hands each instance event to `onEvent` with the instance's
 * name and the action (`instance-stopped`...). A lost stream is opened again, on another member
 * if need be.
 */
export class IncusEvents {
  readonly #client: IncusClient;
  readonly #logger: EngineLogger;
  readonly #onEvent: (instance: string, action: string) => void;
  #socket: WebSocket | undefined;
  #closed = false;
  #retry: NodeJS.Timeout | undefined;

  constructor(
    client: IncusClient,
    logger: EngineLogger,
    onEvent: (instance: string, action: string) => void,
  ) {
    this.#client = client;
    this.#logger = logger;
    this.#onEvent = onEvent;
  }

  /** Opens the stream; resolves once it is open (later losses reconnect on their own). */
  async start(): Promise<void> {
    const socket = await this.#client.openWebSocket('/1.0/events?type=lifecycle&all-projects=true');
    this.#socket = socket;
    socket.on('message', (data) => this.#handle(String(data)));
    socket.once('close', () => this.#reconnectLater());
    socket.on('error', (error) => this.#logger.warn({ err: error }, 'Incus event stream failed'));
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#retry);
    this.#socket?.close();
  }

  #handle(text: string): void {
    let event: { type?: string; metadata?: { action?: string; source?: string } };
    try {
      event = JSON.parse(text);
    } catch {
      return;
    }
    const source = event.metadata?.source ?? '';
    const match = /^\/1\.0\/instances\/([^/?]+)(\?|$)/.exec(source);
    if (event.type === 'lifecycle' && match?.[1] && event.metadata?.action) {
      this.#onEvent(decodeURIComponent(match[1]), event.metadata.action);
    }
  }

  #reconnectLater(): void {
    if (this.#closed) return;
    this.#retry = setTimeout(() => {
      this.start().catch((error) => {
        this.#logger.warn({ err: error }, 'Incus event stream cannot reopen yet');
        this.#reconnectLater();
      });
    }, RECONNECT_MS);
    this.#retry.unref();
  }
}
