import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { readLimits } from '../../db/queries/quotas.js';
import { readHoursThisMonthByUser } from '../../db/queries/usage.js';
import type { VmRow } from '../../db/queries/vms.js';
import type { ConsoleUse } from '../vms/idle-suspender.js';
import type { VmService } from '../vms/vm-service.js';
import { readMemberHourBudgets } from './quota-usage.js';

/** The share of a budget at which a VM's users are warned. */
export const BUDGET_WARNING_SHARE = 0.8;

/** One hour budget a running VM spends from: the tenant's or its owner's. */
interface Budget {
  scope: 'tenant' | 'member';
  used: number;
  limit: number;
}

/**
 * Hour budgets enforced while VMs run, not only at their start: the tenant's `vmHoursPerMonth`
 * and a member's own. At 80 % of either, the VM's serial viewers are warned (once a month per
 * VM and budget); at 100 % the VM is suspended with the reason `budget` (its work kept), and
 * admission refuses starts with `QUOTA_EXCEEDED {resource: "vmHours"}` until an admin raises the
 * budget or the month turns. Runs from the server's timer (`check`).
 */
export class BudgetKeeper {
  /** Warnings sent: `vmId:scope:YYYY-MM`. */
  readonly #warned = new Set<string>();

  constructor(
    private readonly deps: { knex: Knex; vms: VmService; consoles: ConsoleUse; logger: Logger },
  ) {}

  /** Warns or suspends every running VM by the budgets it spends from. */
  async check(): Promise<void> {
    const running = await this.deps
      .knex<VmRow>('vms')
      .whereNull('pool_id')
      .whereIn('state', ['running', 'paused']);
    const byTenant = new Map<string, VmRow[]>();
    for (const vm of running)
      byTenant.set(vm.tenant_id, [...(byTenant.get(vm.tenant_id) ?? []), vm]);
    for (const [tenantId, vms] of byTenant) {
      const limits = await readLimits(this.deps.knex, tenantId);
      if (!limits) continue;
      const hours = await readHoursThisMonthByUser(this.deps.knex, tenantId);
      const tenantBudget: Budget = {
        scope: 'tenant',
        used: hours.get('all') ?? 0,
        limit: limits.vmHoursPerMonth,
      };
      const memberBudgets = await readMemberHourBudgets(this.deps.knex, tenantId);
      for (const vm of vms) {
        const own = vm.owner_id ? memberBudgets.get(vm.owner_id) : undefined;
        const budgets = [tenantBudget];
        if (own !== undefined && vm.owner_id) {
          budgets.push({ scope: 'member', used: hours.get(vm.owner_id) ?? 0, limit: own });
        }
        await this.#apply(vm, budgets);
      }
    }
  }

  async #apply(vm: VmRow, budgets: Budget[]): Promise<void> {
    const spent = budgets.find((budget) => budget.used >= budget.limit);
    if (spent) {
      await this.deps.vms
        .suspendByPolicy(vm, {
          reason: 'budget',
          sentence: `Suspended: ${whose(spent)} ${spent.limit} VM-hours for this month are used up; its work is kept. An admin can raise the budget, or it resumes from the 1st.`,
          details: { scope: spent.scope, used: spent.used, limit: spent.limit },
        })
        .catch((error: unknown) =>
          this.deps.logger.warn({ err: error, vmId: vm.id }, 'budget suspension failed'),
        );
      return;
    }
    const month = new Date().toISOString().slice(0, 7);
    for (const budget of budgets) {
      const key = `${vm.id}:${budget.scope}:${month}`;
      if (budget.used < budget.limit * BUDGET_WARNING_SHARE || this.#warned.has(key)) continue;
      this.#warned.add(key);
      await this.deps.consoles.notify(
        vm.id,
        `${capitalized(whose(budget))} VM-hours this month: ${budget.used} of ${budget.limit} used (${Math.floor((budget.used / budget.limit) * 100)} %). At 100 % running labs are suspended, their work kept.`,
      );
    }
  }
}

function whose(budget: Budget): string {
  return budget.scope === 'tenant' ? "the class's" : 'your own';
}

function capitalized(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
