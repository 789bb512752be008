import type { ConsoleConnection } from '@labvisor/shared';
import type { Knex } from 'knex';
import { AppError } from '../../errors.js';
import { REPLICA_TIMEOUT_MS } from '../replicas/replica-registry.js';

/** Console sockets one user may hold open at once (tabs, watched students), over all replicas. */
export const MAX_CONSOLES_PER_USER = 20;

/** One console socket: who, on which VM, which console and mode. */
export interface ConsoleSocketInfo {
  userId: string;
  vmId: string;
  kind: 'serial' | 'vnc';
  mode: 'interactive' | 'view';
}

/**
 * Who is connected to which console, over every server replica on the database: a row per open
 * socket, written by the replica that holds it. Rows of a replica that stopped beating do not
 * count (and go with it).
 */
export class ConsoleConnections {
  constructor(
    private readonly knex: Knex,
    private readonly replicaId: string,
  ) {}

  /**
   * Records a socket being opened and answers its id; RATE_LIMITED when the user already holds
   * {@link MAX_CONSOLES_PER_USER} (checked and recorded under a per-user lock, on every replica).
   */
  async open(socket: ConsoleSocketInfo): Promise<string> {
    return this.knex.transaction(async (trx) => {
      await trx.raw('select pg_advisory_xact_lock(hashtext(?))', [`consoles:${socket.userId}`]);
      const [counted] = await this.#live(trx)
        .where({ user_id: socket.userId })
        .count<[{ count: string | number }]>({ count: '*' });
      if (Number(counted?.count) >= MAX_CONSOLES_PER_USER) {
        throw new AppError(
          'RATE_LIMITED',
          `You have ${MAX_CONSOLES_PER_USER} consoles open; close one first.`,
        );
      }
      const [row] = await trx('console_connections')
        .insert({
          replica_id: this.replicaId,
          user_id: socket.userId,
          vm_id: socket.vmId,
          kind: socket.kind,
          mode: socket.mode,
        })
        .returning<Array<{ id: string }>>('id');
      return row!.id;
    });
  }

  /** Forgets a socket that closed. */
  async close(id: string): Promise<void> {
    await this.knex('console_connections').where({ id }).delete();
  }

  /** The people connected to these VMs' consoles: one entry per person, VM, kind and mode. */
  async to(vmIds: readonly string[]): Promise<ConsoleConnection[]> {
    if (vmIds.length === 0) return [];
    // One entry per person, VM, kind and mode: since the earliest of their sockets.
    const person = [
      'console_connections.vm_id',
      'console_connections.user_id',
      'users.name',
      'users.email',
      'console_connections.kind',
      'console_connections.mode',
    ];
    const rows = await this.#live(this.knex)
      .join('users', 'users.id', 'console_connections.user_id')
      .whereIn('console_connections.vm_id', vmIds)
      .groupBy(person)
      .select<
        Array<{
          vm_id: string;
          user_id: string;
          name: string;
          email: string;
          kind: 'serial' | 'vnc';
          mode: 'interactive' | 'view';
          since: Date;
        }>
      >([...person, this.knex.raw('min(console_connections.opened_at) as since')]);
    return rows.map((row) => ({
      vmId: row.vm_id,
      userId: row.user_id,
      name: row.name,
      email: row.email,
      kind: row.kind,
      mode: row.mode,
      since: new Date(row.since).toISOString(),
    }));
  }

  /** Whether someone, on any replica, has an interactive console of the VM open. */
  async hasInteractive(vmId: string): Promise<boolean> {
    const row = await this.#live(this.knex)
      .where({ 'console_connections.vm_id': vmId, 'console_connections.mode': 'interactive' })
      .first('console_connections.id');
    return row !== undefined;
  }

  /** Sockets held by replicas whose heartbeat is fresh. */
  #live(knex: Knex | Knex.Transaction): Knex.QueryBuilder {
    return knex('console_connections')
      .join('server_replicas', 'server_replicas.id', 'console_connections.replica_id')
      .where(
        'server_replicas.seen_at',
        '>=',
        knex.raw(`now() - interval '${REPLICA_TIMEOUT_MS} milliseconds'`),
      );
  }
}
