import type { Knex } from 'knex';
import type { VmRow } from '../../db/queries/vms.js';
import { AppError } from '../../errors.js';
import { type Actor, hasRole, roleIn } from '../auth/access.js';

/** What deciding who may see a VM reads of it. */
export type VmAudience = Pick<VmRow, 'tenant_id' | 'owner_id' | 'pool_id'>;

/**
 * Whether the actor may see and act on a VM: its owner while a member of its tenant, instructors
 * and admins of its tenant, and platform admins. A warm pool's VM is nobody's until taken.
 */
export function canSeeVm(actor: Actor, vm: VmAudience): boolean {
  if (vm.pool_id !== null) return false;
  if (hasRole(actor, vm.tenant_id, 'instructor')) return true;
  return vm.owner_id === actor.user.id && roleIn(actor, vm.tenant_id) !== undefined;
}

/** The NOT_FOUND answered for a VM the actor cannot see: never reveal that it exists. */
export function vmNotFound(): AppError {
  return new AppError('NOT_FOUND', 'No such VM.');
}

/** Limits a VM query to what the actor may see (never a warm pool's VM). */
export function visibleVmsQuery(knex: Knex, actor: Actor): Knex.QueryBuilder<VmRow, VmRow[]> {
  const query = knex<VmRow>('vms').whereNull('pool_id');
  if (actor.user.is_platform_admin) return query;
  const supervised = [...actor.roles]
    .filter(([, role]) => role !== 'member')
    .map(([tenantId]) => tenantId);
  const memberOf = [...actor.roles.keys()];
  return query.where((where) => {
    where.whereIn('tenant_id', supervised).orWhere((own) => {
      own.where('owner_id', actor.user.id).whereIn('tenant_id', memberOf);
    });
  });
}
