import { listOf } from '../common.js';
import { consoleConnectionSchema } from '../consoles.js';
import { poolsSchema, putPoolsRequestSchema } from '../pools.js';
import { putQuotaRequestSchema, quotaSchema } from '../quota.js';
import { putScheduleRequestSchema, scheduleSchema } from '../schedules.js';
import { createTenantRequestSchema, tenantSchema, updateTenantRequestSchema } from '../tenants.js';
import { tenantUsageQuerySchema, tenantUsageSchema } from '../usage.js';
import {
  addMemberRequestSchema,
  memberSchema,
  putMemberLimitsRequestSchema,
  updateMemberRequestSchema,
} from '../users.js';
import { type RouteSpec, route } from './route-spec.js';

/** Tenants, their quota, warm pools, members, usage and who is on their consoles. */
export const TENANT_ROUTES = {
  listTenants: route({
    method: 'get',
    path: '/api/v1/tenants',
    summary: 'Tenants the user can see',
    access: 'signed-in',
    response: listOf(tenantSchema),
    status: 200,
  }),
  createTenant: route({
    method: 'post',
    path: '/api/v1/tenants',
    summary: 'Create a tenant (platform admin)',
    access: 'signed-in',
    body: createTenantRequestSchema,
    response: tenantSchema,
    status: 201,
  }),
  getTenant: route({
    method: 'get',
    path: '/api/v1/tenants/:tenantId',
    summary: 'A tenant',
    access: 'signed-in',
    response: tenantSchema,
    status: 200,
  }),
  updateTenant: route({
    method: 'patch',
    path: '/api/v1/tenants/:tenantId',
    summary:
      'Rename a tenant or switch recording (platform admin); set its default image and idle suspension (tenant admin)',
    access: 'signed-in',
    body: updateTenantRequestSchema,
    response: tenantSchema,
    status: 200,
  }),
  deleteTenant: route({
    method: 'delete',
    path: '/api/v1/tenants/:tenantId',
    summary: 'Delete a tenant without VMs (platform admin)',
    access: 'signed-in',
    status: 204,
  }),
  getQuota: route({
    method: 'get',
    path: '/api/v1/tenants/:tenantId/quota',
    summary: "A tenant's limits and usage",
    access: 'signed-in',
    response: quotaSchema,
    status: 200,
  }),
  putQuota: route({
    method: 'put',
    path: '/api/v1/tenants/:tenantId/quota',
    summary: "Set a tenant's limits (platform admin)",
    access: 'signed-in',
    body: putQuotaRequestSchema,
    response: quotaSchema,
    status: 200,
  }),
  getPools: route({
    method: 'get',
    path: '/api/v1/tenants/:tenantId/pools',
    summary: "A tenant's warm pools and what they hold now (instructor or admin)",
    access: 'signed-in',
    response: poolsSchema,
    status: 200,
  }),
  putPools: route({
    method: 'put',
    path: '/api/v1/tenants/:tenantId/pools',
    summary:
      "Set a tenant's warm pools: paused clones kept ready per image and size; pools left out are emptied (instructor or admin)",
    access: 'signed-in',
    body: putPoolsRequestSchema,
    response: poolsSchema,
    status: 200,
  }),
  getSchedule: route({
    method: 'get',
    path: '/api/v1/tenants/:tenantId/schedule',
    summary: "A tenant's class hours, and whether they are on now (members of the tenant)",
    access: 'signed-in',
    response: scheduleSchema,
    status: 200,
  }),
  putSchedule: route({
    method: 'put',
    path: '/api/v1/tenants/:tenantId/schedule',
    summary:
      "Set a tenant's class hours: labs suspended when a session ends, resumed before the next (instructor or admin)",
    access: 'signed-in',
    body: putScheduleRequestSchema,
    response: scheduleSchema,
    status: 200,
  }),
  deleteSchedule: route({
    method: 'delete',
    path: '/api/v1/tenants/:tenantId/schedule',
    summary: "Remove a tenant's class hours (instructor or admin)",
    access: 'signed-in',
    status: 204,
  }),
  listMembers: route({
    method: 'get',
    path: '/api/v1/tenants/:tenantId/members',
    summary: "A tenant's members (instructor or admin)",
    access: 'signed-in',
    response: listOf(memberSchema),
    status: 200,
  }),
  addMember: route({
    method: 'post',
    path: '/api/v1/tenants/:tenantId/members',
    summary: 'Add a member or change their role (tenant admin)',
    access: 'signed-in',
    body: addMemberRequestSchema,
    response: memberSchema,
    status: 201,
  }),
  setMemberRole: route({
    method: 'patch',
    path: '/api/v1/tenants/:tenantId/members/:userId',
    summary: "Change a member's role (tenant admin; not one's own)",
    access: 'signed-in',
    body: updateMemberRequestSchema,
    response: memberSchema,
    status: 200,
  }),
  setMemberLimits: route({
    method: 'put',
    path: '/api/v1/tenants/:tenantId/members/:userId/limits',
    summary: "Set a member's own limits inside the tenant quota (tenant admin)",
    access: 'signed-in',
    body: putMemberLimitsRequestSchema,
    response: memberSchema,
    status: 200,
  }),
  removeMember: route({
    method: 'delete',
    path: '/api/v1/tenants/:tenantId/members/:userId',
    summary: 'Remove a member (tenant admin)',
    access: 'signed-in',
    status: 204,
  }),
  tenantUsage: route({
    method: 'get',
    path: '/api/v1/tenants/:tenantId/usage',
    summary:
      'VM-hours per UTC day and member over the last `?days=` days, default 30 (tenant admin)',
    access: 'signed-in',
    query: tenantUsageQuerySchema,
    response: tenantUsageSchema,
    status: 200,
  }),
  tenantConsoles: route({
    method: 'get',
    path: '/api/v1/tenants/:tenantId/consoles',
    summary:
      "Who is connected now to the consoles of a tenant's VMs, from this server's live console gateway (instructors and admins)",
    access: 'signed-in',
    response: listOf(consoleConnectionSchema),
    status: 200,
  }),
} as const satisfies Record<string, RouteSpec>;
