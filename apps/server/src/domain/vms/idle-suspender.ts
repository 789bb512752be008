import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { VmRow } from '../../db/queries/vms.js';
import type { VmService } from './vm-service.js';

/** How long before its suspension an idle VM's viewers are warned. */
export const IDLE_WARNING_MS = 60_000;

/** A running VM of a tenant with an idle policy, and since when it has had no input. */
interface IdleCandidate extends VmRow {
  idle_suspend_minutes: number;
  idle_since: Date;
}

/** What the idle suspender needs of the console gateway. */
export interface ConsoleUse {
  hasInteractiveViewer(vmId: string): Promise<boolean>;
  notify(vmId: string, message: string): Promise<void>;
}

/**
 * Idle suspension, never idle stop: a VM of a tenant (or an owner) with an idle policy that had no real console
 * input (keys, pointer) for its minutes, and has no interactive console open, is suspended to disk
 * with its work kept and its quota released; its serial viewers are warned a minute before.
 * Opening its console resumes it where it was. Runs from the server's timer (`check`).
 */
export class IdleSuspender {
  /** The idle periods already warned about: `vmId@idleSince`. */
  readonly #warned = new Set<string>();

  constructor(
    private readonly deps: { knex: Knex; vms: VmService; consoles: ConsoleUse; logger: Logger },
  ) {}

  /** Suspends the VMs idle past their tenant's minutes, and warns those a minute short of it. */
  async check(now = new Date()): Promise<void> {
    const knex = this.deps.knex;
    // The owner's own minutes, when a tenant admin set them, else the tenant's.
    const minutes = knex.raw(
      "coalesce((memberships.limits->>'idleSuspendMinutes')::int, tenants.idle_suspend_minutes)",
    );
    const candidates = await knex<IdleCandidate>('vms')
      .join('tenants', 'tenants.id', 'vms.tenant_id')
      .leftJoin('memberships', (join) =>
        join
          .on('memberships.tenant_id', 'vms.tenant_id')
          .andOn('memberships.user_id', 'vms.owner_id'),
      )
      .whereRaw('? is not null', [minutes])
      .whereNull('vms.pool_id')
      .where('vms.state', 'running')
      .select<IdleCandidate[]>(
        'vms.*',
        knex.raw('? as idle_suspend_minutes', [minutes]),
        this.deps.knex.raw(
          'greatest(coalesce(vms.last_activity_at, vms.started_at), vms.started_at) as idle_since',
        ),
      );
    const live = new Set<string>();
    for (const vm of candidates) {
      const key = `${vm.id}@${new Date(vm.idle_since).getTime()}`;
      live.add(key);
      if (await this.deps.consoles.hasInteractiveViewer(vm.id)) continue;
      const left =
        new Date(vm.idle_since).getTime() + vm.idle_suspend_minutes * 60_000 - now.getTime();
      if (left <= 0) {
        await this.deps.vms
          .suspendByPolicy(vm, {
            reason: 'idle',
            sentence: `Suspended after ${vm.idle_suspend_minutes} minutes without input; its work is kept, and opening its console resumes it.`,
            details: { idleMinutes: vm.idle_suspend_minutes },
          })
          .catch((error: unknown) =>
            this.deps.logger.warn({ err: error, vmId: vm.id }, 'idle suspension failed'),
          );
      } else if (left <= IDLE_WARNING_MS && !this.#warned.has(key)) {
        this.#warned.add(key);
        await this.deps.consoles.notify(
          vm.id,
          `No input for ${vm.idle_suspend_minutes - 1} minutes: this lab will be suspended in a minute, its work kept. Type anything to keep it running.`,
        );
      }
    }
    for (const key of this.#warned) if (!live.has(key)) this.#warned.delete(key);
  }
}
