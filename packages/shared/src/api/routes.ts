import { z } from 'zod';
import type { VmAction } from '../lifecycle.js';
import { consoleTicketRequestSchema, consoleTicketSchema } from '../ws.js';
import { vmActivityQuerySchema, vmActivitySchema } from './activity.js';
import { auditEntrySchema, auditQuerySchema } from './audit.js';
import {
  authProvidersSchema,
  loginRequestSchema,
  loginResponseSchema,
  meResponseSchema,
  oidcCallbackQuerySchema,
  userSchema,
} from './auth.js';
import { listOf } from './common.js';
import { consoleConnectionSchema, recordingSchema } from './consoles.js';
import { readinessSchema } from './health.js';
import { hostCapacitySchema } from './host.js';
import { imageSchema, uploadImageQuerySchema } from './images.js';
import { putQuotaRequestSchema, quotaSchema } from './quota.js';
import { createSnapshotRequestSchema, snapshotSchema } from './snapshots.js';
import { createTenantRequestSchema, tenantSchema, updateTenantRequestSchema } from './tenants.js';
import { apiTokenSchema, createdTokenSchema, createTokenRequestSchema } from './tokens.js';
import { tenantUsageQuerySchema, tenantUsageSchema } from './usage.js';
import {
  addMemberRequestSchema,
  createUserRequestSchema,
  memberSchema,
  putMemberLimitsRequestSchema,
  updateMemberRequestSchema,
  updateUserRequestSchema,
} from './users.js';
import { createVmQuerySchema, createVmRequestSchema, listVmsQuerySchema, vmSchema } from './vms.js';

/**
 * One operation of the HTTP API, as data: the server's one router mounts it with strict parsing,
 * the OpenAPI document is generated from it and the portal's client is typed by it.
 */
export interface RouteSpec {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  /** Express-style path, e.g. `/api/v1/tenants/:tenantId`; every `:param` is a UUID. */
  path: string;
  summary: string;
  /** `public`: anyone; `signed-in`: a session or an API token (401 otherwise). */
  access: 'public' | 'signed-in';
  /** Query parameters; absent: none are accepted. */
  query?: z.ZodObject;
  /** The JSON body; absent: none (or `{}`) is accepted. */
  body?: z.ZodType;
  /** A body of raw bytes (`application/octet-stream`) instead of JSON: what the bytes are. */
  binaryBody?: string;
  /** The success answer (JSON); absent with 204, or when `produces` names another type. */
  response?: z.ZodType;
  /** The success status. */
  status: 200 | 201 | 202 | 204 | 302;
  /** What a non-JSON success answer is (a redirect, a file, Prometheus text). */
  produces?: string;
  /** Other answers than the success one and the errors, for the OpenAPI document. */
  otherAnswers?: Record<number, { description: string; response?: z.ZodType }>;
}

/** Keeps a route's literal types (its path, its schemas) for typed handlers and clients. */
const route = <const R extends RouteSpec>(spec: R): R => spec;

/** The route of one VM lifecycle action (`POST /api/v1/vms/:vmId/start`, …). */
const vmActionRoute = <const A extends VmAction>(action: A) =>
  route({
    method: 'post',
    path: `/api/v1/vms/:vmId/${action}`,
    summary: `${action[0]!.toUpperCase()}${action.slice(1)} a VM; answers its new, often transitional, state`,
    access: 'signed-in',
    response: vmSchema,
    status: 202,
  });

/** Every operation of the HTTP API, by name. */
export const API_ROUTES = {
  healthz: route({
    method: 'get',
    path: '/healthz',
    summary: 'The process is up',
    access: 'public',
    response: z.object({ ok: z.literal(true) }),
    status: 200,
  }),
  readyz: route({
    method: 'get',
    path: '/readyz',
    summary: 'Database and engine usable; names the accelerator and QEMU version',
    access: 'public',
    response: readinessSchema,
    status: 200,
    otherAnswers: { 503: { description: 'Not ready: what is not', response: readinessSchema } },
  }),
  metrics: route({
    method: 'get',
    path: '/metrics',
    summary:
      'Prometheus metrics (with LABVISOR_METRICS_TOKEN set: `Authorization: Bearer <token>`)',
    access: 'public',
    status: 200,
    produces: 'text/plain',
  }),
  openApi: route({
    method: 'get',
    path: '/api/v1/openapi.json',
    summary: 'This document',
    access: 'public',
    status: 200,
    produces: 'application/json',
  }),
  login: route({
    method: 'post',
    path: '/api/v1/auth/login',
    summary: 'Sign in with email and password',
    access: 'public',
    body: loginRequestSchema,
    response: loginResponseSchema,
    status: 200,
  }),
  logout: route({
    method: 'post',
    path: '/api/v1/auth/logout',
    summary: 'Sign out',
    access: 'public',
    status: 204,
  }),
  authProviders: route({
    method: 'get',
    path: '/api/v1/auth/providers',
    summary: 'Which sign-in methods are offered (password, OpenID Connect)',
    access: 'public',
    response: authProvidersSchema,
    status: 200,
  }),
  oidcLogin: route({
    method: 'get',
    path: '/api/v1/auth/oidc/login',
    summary: 'Start single sign-on: redirects to the OpenID Connect provider',
    access: 'public',
    status: 302,
    produces: 'a redirect to the provider',
  }),
  oidcCallback: route({
    method: 'get',
    path: '/api/v1/auth/oidc/callback',
    summary:
      'Where the provider returns; signs in the user with the verified email and redirects to the portal',
    access: 'public',
    query: oidcCallbackQuerySchema,
    status: 302,
    produces: 'a redirect to the portal (or to its sign-in page with the reason)',
  }),
  me: route({
    method: 'get',
    path: '/api/v1/me',
    summary: 'The signed-in user, their tenant roles and CSRF token',
    access: 'signed-in',
    response: meResponseSchema,
    status: 200,
  }),
  listTokens: route({
    method: 'get',
    path: '/api/v1/tokens',
    summary: "The signed-in user's API tokens",
    access: 'signed-in',
    response: listOf(apiTokenSchema),
    status: 200,
  }),
  createToken: route({
    method: 'post',
    path: '/api/v1/tokens',
    summary: 'Create an API token (shown once)',
    access: 'signed-in',
    body: createTokenRequestSchema,
    response: createdTokenSchema,
    status: 201,
  }),
  revokeToken: route({
    method: 'delete',
    path: '/api/v1/tokens/:tokenId',
    summary: 'Revoke an API token',
    access: 'signed-in',
    status: 204,
  }),
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
    summary: 'Rename a tenant or switch recording (platform admin)',
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
  listImages: route({
    method: 'get',
    path: '/api/v1/images',
    summary: 'Images the user can create VMs from',
    access: 'signed-in',
    response: listOf(imageSchema),
    status: 200,
  }),
  uploadImage: route({
    method: 'post',
    path: '/api/v1/images',
    summary:
      "Upload a qcow2, raw or ISO image (platform admin; tenant admin for their tenant's): the body is the file, described by the query; checked with qemu-img (no backing or data file)",
    access: 'signed-in',
    query: uploadImageQuerySchema,
    binaryBody: 'The image file',
    response: imageSchema,
    status: 201,
  }),
  getImage: route({
    method: 'get',
    path: '/api/v1/images/:imageId',
    summary: 'An image',
    access: 'signed-in',
    response: imageSchema,
    status: 200,
  }),
  deleteImage: route({
    method: 'delete',
    path: '/api/v1/images/:imageId',
    summary: "Delete an image no VM uses (platform admin; tenant admin for their tenant's)",
    access: 'signed-in',
    status: 204,
  }),
  listVms: route({
    method: 'get',
    path: '/api/v1/vms',
    summary: 'VMs the user can see (`?tenantId=` for one tenant)',
    access: 'signed-in',
    query: listVmsQuerySchema,
    response: listOf(vmSchema),
    status: 200,
  }),
  createVm: route({
    method: 'post',
    path: '/api/v1/vms',
    summary:
      'Create and start a VM if the quota admits it (`?dryRun=1` only answers whether it would; an `Idempotency-Key` header makes retries safe)',
    access: 'signed-in',
    query: createVmQuerySchema,
    body: createVmRequestSchema,
    response: vmSchema,
    status: 201,
    otherAnswers: {
      200: {
        description: 'With `?dryRun=1`: the quota would admit it',
        response: z.object({ admitted: z.literal(true) }),
      },
    },
  }),
  getVm: route({
    method: 'get',
    path: '/api/v1/vms/:vmId',
    summary: 'A VM',
    access: 'signed-in',
    response: vmSchema,
    status: 200,
  }),
  deleteVm: route({
    method: 'delete',
    path: '/api/v1/vms/:vmId',
    summary: 'Delete a VM and every file it has',
    access: 'signed-in',
    status: 204,
  }),
  startVm: vmActionRoute('start'),
  stopVm: vmActionRoute('stop'),
  rebootVm: vmActionRoute('reboot'),
  suspendVm: vmActionRoute('suspend'),
  resumeVm: vmActionRoute('resume'),
  listSnapshots: route({
    method: 'get',
    path: '/api/v1/vms/:vmId/snapshots',
    summary: "A VM's snapshots, oldest first",
    access: 'signed-in',
    response: listOf(snapshotSchema),
    status: 200,
  }),
  createSnapshot: route({
    method: 'post',
    path: '/api/v1/vms/:vmId/snapshots',
    summary: 'Take a snapshot (with memory: only while running or paused)',
    access: 'signed-in',
    body: createSnapshotRequestSchema,
    response: snapshotSchema,
    status: 201,
  }),
  restoreSnapshot: route({
    method: 'post',
    path: '/api/v1/vms/:vmId/snapshots/:snapshotId/restore',
    summary: 'Restore a snapshot; answers the VM',
    access: 'signed-in',
    response: vmSchema,
    status: 200,
  }),
  deleteSnapshot: route({
    method: 'delete',
    path: '/api/v1/vms/:vmId/snapshots/:snapshotId',
    summary: 'Delete a snapshot',
    access: 'signed-in',
    status: 204,
  }),
  consoleTicket: route({
    method: 'post',
    path: '/api/v1/vms/:vmId/console',
    summary: 'A single-use ticket (about 30 s) to open the serial or VNC console over WebSocket',
    access: 'signed-in',
    body: consoleTicketRequestSchema,
    response: consoleTicketSchema,
    status: 201,
  }),
  vmActivity: route({
    method: 'get',
    path: '/api/v1/vms/:vmId/activity',
    summary:
      "A VM's recent activity, newest first: starts, stops, snapshots, consoles opened (`?limit=`, default 50)",
    access: 'signed-in',
    query: vmActivityQuerySchema,
    response: listOf(vmActivitySchema),
    status: 200,
  }),
  listRecordings: route({
    method: 'get',
    path: '/api/v1/vms/:vmId/recordings',
    summary: "A VM's serial console recordings (instructors and admins of its tenant)",
    access: 'signed-in',
    response: listOf(recordingSchema),
    status: 200,
  }),
  recordingCast: route({
    method: 'get',
    path: '/api/v1/recordings/:recordingId/cast',
    summary: 'A recording as an asciicast v2 file',
    access: 'signed-in',
    status: 200,
    produces: 'application/x-asciicast',
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

/** The name of an API operation, e.g. `listVms`. */
export type RouteName = keyof typeof API_ROUTES;

/** The route of each VM lifecycle action. */
export const VM_ACTION_ROUTES = {
  start: API_ROUTES.startVm,
  stop: API_ROUTES.stopVm,
  reboot: API_ROUTES.rebootVm,
  suspend: API_ROUTES.suspendVm,
  resume: API_ROUTES.resumeVm,
} as const satisfies Record<VmAction, RouteSpec>;

/** The `:param` names of a path, as an object type. */
export type PathParams<P extends string> = P extends `${string}:${infer Name}/${infer Rest}`
  ? { [K in Name]: string } & PathParams<`/${Rest}`>
  : P extends `${string}:${infer Name}`
    ? { [K in Name]: string }
    : Record<never, never>;

type SchemaInput<S> = S extends z.ZodType ? z.input<S> : undefined;
type SchemaOutput<S> = S extends z.ZodType ? z.output<S> : undefined;

/** What a client sends to a route: its path parameters, query and JSON body. */
export interface RouteRequest<R extends RouteSpec> {
  params: PathParams<R['path']>;
  query: SchemaInput<R['query']>;
  body: SchemaInput<R['body']>;
}

/** What a route's handler receives, once parsed: path parameters, query and body. */
export interface RouteInput<R extends RouteSpec> {
  params: PathParams<R['path']>;
  query: SchemaOutput<R['query']>;
  body: SchemaOutput<R['body']>;
}

/** A route's success answer (nothing for 204 and non-JSON answers). */
export type RouteAnswer<R extends RouteSpec> = R['response'] extends z.ZodType
  ? z.output<R['response']>
  : // biome-ignore lint/suspicious/noConfusingVoidType: a handler of a route without an answer returns nothing
    void;

/** The names of a path's parameters, in order. */
export function pathParamNames(path: string): string[] {
  return [...path.matchAll(/:(\w+)/g)].map((match) => match[1]!);
}

/** A route's path with its parameters filled in (each URI-encoded). */
export function fillPath(path: string, params: Record<string, string>): string {
  return path.replace(/:(\w+)/g, (_, name: string) => {
    const value = params[name];
    if (value === undefined) throw new Error(`The path ${path} needs :${name}.`);
    return encodeURIComponent(value);
  });
}
