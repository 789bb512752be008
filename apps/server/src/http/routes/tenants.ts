import { type TenantRow, toTenant } from '../../db/queries/tenants.js';
import type { MemberService } from '../../domain/tenants/member-service.js';
import type { TenantService } from '../../domain/tenants/tenant-service.js';
import type { NetworkPolicy } from '../../domain/vms/network-policy.js';
import type { Handlers } from '../router.js';

/** Tenants, their quota, members and usage: `/api/v1/tenants/*`. */
export function tenantHandlers(
  tenants: TenantService,
  members: MemberService,
  networks: NetworkPolicy,
): Handlers<
  | 'listTenants'
  | 'createTenant'
  | 'getTenant'
  | 'updateTenant'
  | 'deleteTenant'
  | 'getQuota'
  | 'putQuota'
  | 'tenantUsage'
  | 'listMembers'
  | 'addMember'
  | 'setMemberRole'
  | 'setMemberLimits'
  | 'removeMember'
> {
  const view = (row: TenantRow) => toTenant(row, networks.modes());
  return {
    listTenants: async (_input, { actor }) => ({
      items: (await tenants.list(actor)).map(view),
    }),
    createTenant: async ({ body }, { actor, ip }) => view(await tenants.create(actor, body, ip)),
    getTenant: async ({ params }, { actor }) => view(await tenants.get(actor, params.tenantId)),
    updateTenant: async ({ params, body }, { actor, ip }) => {
      if (body.defaultNetwork) networks.assertOffered(body.defaultNetwork, 'defaultNetwork');
      return view(await tenants.update(actor, params.tenantId, body, ip));
    },
    deleteTenant: ({ params }, { actor, ip }) => tenants.delete(actor, params.tenantId, ip),
    getQuota: ({ params }, { actor }) => tenants.quota(actor, params.tenantId),
    putQuota: ({ params, body }, { actor, ip }) =>
      tenants.putQuota(actor, params.tenantId, body.limits, ip),
    tenantUsage: ({ params, query }, { actor }) =>
      tenants.usage(actor, params.tenantId, query.days),
    listMembers: async ({ params }, { actor }) => ({
      items: await members.list(actor, params.tenantId),
    }),
    addMember: ({ params, body }, { actor, ip }) => members.add(actor, params.tenantId, body, ip),
    setMemberRole: ({ params, body }, { actor, ip }) =>
      members.setRole(actor, params.tenantId, params.userId, body.role, ip),
    setMemberLimits: ({ params, body }, { actor, ip }) =>
      members.setLimits(actor, params.tenantId, params.userId, body.limits, ip),
    removeMember: ({ params }, { actor, ip }) =>
      members.remove(actor, params.tenantId, params.userId, ip),
  };
}
