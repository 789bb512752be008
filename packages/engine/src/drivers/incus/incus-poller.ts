import type { EngineLogger } from '../../logger.js';
import type { IncusClient } from './incus-client.js';

/** A cluster member as Incus lists it. */
export interface IncusMember {
  name: string;
  /** `Online`, `Offline`, `Evacuated`... */
  status: string;
  message: string;
  url: string;
}

/** A member as `/1.0/cluster/members?recursion=1` answers it. */
interface MemberResponse {
  server_name: string;
  status: string;
  message: string;
  url: string;
}

/** An instance as `/1.0/instances?recursion=1` answers it. */
export interface IncusInstance {
  name: string;
  project: string;
  status: string;
  location: string;
}

/** How often the cluster is read by default. */
export const DEFAULT_POLL_MS = 5_000;

/** What the poller reports. */
export interface IncusPollerEvents {
  /** A member's status changed (`Online` ↔ `Offline`, `Evacuated`). */
  onMemberChange(member: IncusMember): void;
  /**
   * Every instance of every project, as read at this poll (what events may have missed), with the
   * time the read began: a change made since then is newer than what it says.
   */
  onInstances(instances: IncusInstance[], readSince: number): void;
}

/**
 * Reads the cluster every `pollMs`: its members (`/1.0/cluster/members`; a standalone server has
 * none) and every instance of every project, in two requests whatever the number of labs. The
 * lifecycle events say most changes at once; this catches what they cannot (a member gone quiet,
 * an event lost while the stream reconnected).
 */
export class IncusPoller {
  readonly #client: IncusClient;
  readonly #logger: EngineLogger;
  readonly #events: IncusPollerEvents;
  readonly #pollMs: number;
  #members = new Map<string, IncusMember>();
  #instances: IncusInstance[] = [];
  #timer: NodeJS.Timeout | undefined;
  /** The read under way, if any. */
  #reading: Promise<void> | undefined;

  constructor(
    client: IncusClient,
    logger: EngineLogger,
    events: IncusPollerEvents,
    pollMs = DEFAULT_POLL_MS,
  ) {
    this.#client = client;
    this.#logger = logger;
    this.#events = events;
    this.#pollMs = pollMs;
  }

  /** Reads the cluster once, then keeps reading it. */
  async start(): Promise<void> {
    await this.refresh();
    this.#timer = setInterval(() => {
      if (!this.#reading) void this.refresh();
    }, this.#pollMs);
    this.#timer.unref();
  }

  /** Reads the cluster now (after the read under way, which may predate a change just made). */
  async refresh(): Promise<void> {
    await this.#reading;
    this.#reading = this.#poll().finally(() => {
      this.#reading = undefined;
    });
    await this.#reading;
  }

  /** The members as last read (empty for a standalone server). */
  list(): IncusMember[] {
    return [...this.#members.values()];
  }

  /** Every instance as last read. */
  instances(): IncusInstance[] {
    return this.#instances;
  }

  /** Whether `name` was online when last read (true for a standalone server). */
  isOnline(name: string | undefined): boolean {
    const member = name === undefined ? undefined : this.#members.get(name);
    return member === undefined || member.status === 'Online';
  }

  close(): void {
    clearInterval(this.#timer);
  }

  async #poll(): Promise<void> {
    try {
      const members = await this.#client
        .call<MemberResponse[]>('GET', '/1.0/cluster/members?recursion=1')
        .catch((error: Error) => {
          // A standalone server is no cluster: it has no members to watch.
          if (/not clustered|404/i.test(error.message)) return [];
          throw error;
        });
      for (const member of members) {
        const before = this.#members.get(member.server_name);
        const current: IncusMember = {
          name: member.server_name,
          status: member.status,
          message: member.message,
          url: member.url,
        };
        this.#members.set(current.name, current);
        if (before && before.status !== current.status) this.#events.onMemberChange(current);
      }
      const readSince = Date.now();
      const instances = await this.#client.call<IncusInstance[]>(
        'GET',
        '/1.0/instances?recursion=1&all-projects=true',
      );
      this.#instances = instances;
      this.#events.onInstances(instances, readSince);
    } catch (error) {
      this.#logger.warn({ err: error }, 'cannot read the Incus cluster');
    }
  }
}
