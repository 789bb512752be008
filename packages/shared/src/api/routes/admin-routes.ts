import { auditEntrySchema, auditQuerySchema } from '../audit.js';
import { userSchema } from '../auth.js';
import { listOf } from '../common.js';
import { hostCapacitySchema, hostMemberRequestSchema, hostMemberSchema } from '../host.js';
import { createUserRequestSchema, updateUserRequestSchema } from '../users.js';
import { type RouteSpec, route } from './route-spec.js';

/** Platform administration: user accounts, the host and the audit log. */
export const ADMIN_ROUTES = {
  listUsers: route({
    method: 'get',
    path: '/api/v1/users',
    summary: 'Every user (platform admin)',
    access: 'signed-in',
    response: listOf(userSchema),
    status: 200,
  }),
  createUser: route({
    method: 'post',
    path: '/api/v1/users',
    summary: 'Create a user (platform admin)',
    access: 'signed-in',
    body: createUserRequestSchema,
    response: userSchema,
    status: 201,
  }),
  updateUser: route({
    method: 'patch',
    path: '/api/v1/users/:userId',
    summary:
      'Rename, disable or enable a user (platform admin); a disabled user cannot sign in or use tokens or consoles',
    access: 'signed-in',
    body: updateUserRequestSchema,
    response: userSchema,
    status: 200,
  }),
  host: route({
    method: 'get',
    path: '/api/v1/host',
    summary: "This host's CPUs, memory, VMs by state and accelerator (platform admin)",
    access: 'signed-in',
    response: hostCapacitySchema,
    status: 200,
  }),
  evacuateMember: route({
    method: 'post',
    path: '/api/v1/host/evacuate',
    summary:
      'Evacuate a cluster member (platform admin): its labs move to the other members and run on there; it takes no new ones until restored',
    access: 'signed-in',
    body: hostMemberRequestSchema,
    response: hostMemberSchema,
    status: 200,
  }),
  restoreMember: route({
    method: 'post',
    path: '/api/v1/host/restore',
    summary: 'Restore an evacuated cluster member (platform admin): its labs come back to it',
    access: 'signed-in',
    body: hostMemberRequestSchema,
    response: hostMemberSchema,
    status: 200,
  }),
  audit: route({
    method: 'get',
    path: '/api/v1/audit',
    summary:
      'The audit log, newest first (platform admins; tenant admins with ?tenantId=); filters action, actorId; pages with before=<id>',
    access: 'signed-in',
    query: auditQuerySchema,
    response: listOf(auditEntrySchema),
    status: 200,
  }),
} as const satisfies Record<string, RouteSpec>;
