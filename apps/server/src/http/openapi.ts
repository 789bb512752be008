import {
  addMemberRequestSchema,
  apiTokenSchema,
  auditEntrySchema,
  consoleConnectionSchema,
  consoleTicketRequestSchema,
  consoleTicketSchema,
  createdTokenSchema,
  createSnapshotRequestSchema,
  createTenantRequestSchema,
  createTokenRequestSchema,
  createUserRequestSchema,
  createVmRequestSchema,
  errorBodySchema,
  hostCapacitySchema,
  imageSchema,
  listOf,
  loginRequestSchema,
  loginResponseSchema,
  memberSchema,
  meResponseSchema,
  putMemberLimitsRequestSchema,
  putQuotaRequestSchema,
  quotaSchema,
  readinessSchema,
  snapshotSchema,
  tenantSchema,
  tenantUsageQuerySchema,
  tenantUsageSchema,
  updateMemberRequestSchema,
  updateTenantRequestSchema,
  updateUserRequestSchema,
  uploadImageQuerySchema,
  userSchema,
  vmActivitySchema,
  vmSchema,
} from '@labvisor/shared';
import { z } from 'zod';

/** One operation of the public API, described by the same zod schemas the routes parse with. */
export interface ApiOperation {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  /** Express-style path, e.g. `/api/v1/tenants/:tenantId`. */
  path: string;
  summary: string;
  body?: z.ZodType;
  /** A body of raw bytes (`application/octet-stream`) instead of JSON: what the bytes are. */
  binaryBody?: string;
  /** Query parameters the route parses. */
  query?: z.ZodObject;
  /** The success answer; undefined for 204. */
  response?: z.ZodType;
  status?: number;
  /** Whether it needs no sign-in. */
  public?: boolean;
}

/** Every operation of the v1 API. A test checks this table against the routes Express serves. */
export const API_OPERATIONS: ApiOperation[] = [
  {
    method: 'post',
    path: '/api/v1/auth/login',
    summary: 'Sign in with email and password',
    body: loginRequestSchema,
    response: loginResponseSchema,
    public: true,
  },
  { method: 'post', path: '/api/v1/auth/logout', summary: 'Sign out', status: 204, public: true },
  {
    method: 'get',
    path: '/api/v1/auth/providers',
    summary: 'Which sign-in methods are offered (password, OpenID Connect)',
    public: true,
  },
  {
    method: 'get',
    path: '/api/v1/auth/oidc/login',
    summary: 'Start single sign-on: redirects to the OpenID Connect provider',
    public: true,
  },
  {
    method: 'get',
    path: '/api/v1/auth/oidc/callback',
    summary:
      'Where the provider returns; signs in the user with the verified email and redirects to the portal',
    public: true,
  },
  {
    method: 'get',
    path: '/api/v1/me',
    summary: 'The signed-in user, their tenant roles and CSRF token',
    response: meResponseSchema,
  },
  {
    method: 'get',
    path: '/api/v1/tokens',
    summary: "The signed-in user's API tokens",
    response: listOf(apiTokenSchema),
  },
  {
    method: 'post',
    path: '/api/v1/tokens',
    summary: 'Create an API token (shown once)',
    body: createTokenRequestSchema,
    response: createdTokenSchema,
    status: 201,
  },
  {
    method: 'delete',
    path: '/api/v1/tokens/:tokenId',
    summary: 'Revoke an API token',
    status: 204,
  },
  {
    method: 'get',
    path: '/api/v1/tenants',
    summary: 'Tenants the user can see',
    response: listOf(tenantSchema),
  },
  {
    method: 'post',
    path: '/api/v1/tenants',
    summary: 'Create a tenant (platform admin)',
    body: createTenantRequestSchema,
    response: tenantSchema,
    status: 201,
  },
  { method: 'get', path: '/api/v1/tenants/:tenantId', summary: 'A tenant', response: tenantSchema },
  {
    method: 'patch',
    path: '/api/v1/tenants/:tenantId',
    summary: 'Rename a tenant or switch recording (platform admin)',
    body: updateTenantRequestSchema,
    response: tenantSchema,
  },
  {
    method: 'delete',
    path: '/api/v1/tenants/:tenantId',
    summary: 'Delete a tenant without VMs (platform admin)',
    status: 204,
  },
  {
    method: 'get',
    path: '/api/v1/tenants/:tenantId/quota',
    summary: "A tenant's limits and usage",
    response: quotaSchema,
  },
  {
    method: 'put',
    path: '/api/v1/tenants/:tenantId/quota',
    summary: "Set a tenant's limits (platform admin)",
    body: putQuotaRequestSchema,
    response: quotaSchema,
  },
  {
    method: 'get',
    path: '/api/v1/tenants/:tenantId/members',
    summary: "A tenant's members (instructor or admin)",
    response: listOf(memberSchema),
  },
  {
    method: 'post',
    path: '/api/v1/tenants/:tenantId/members',
    summary: 'Add a member or change their role (tenant admin)',
    body: addMemberRequestSchema,
    response: memberSchema,
    status: 201,
  },
  {
    method: 'patch',
    path: '/api/v1/tenants/:tenantId/members/:userId',
    summary: "Change a member's role (tenant admin; not one's own)",
    body: updateMemberRequestSchema,
    response: memberSchema,
  },
  {
    method: 'get',
    path: '/api/v1/tenants/:tenantId/usage',
    summary:
      'VM-hours per UTC day and member over the last `?days=` days, default 30 (tenant admin)',
    query: tenantUsageQuerySchema,
    response: tenantUsageSchema,
  },
  {
    method: 'put',
    path: '/api/v1/tenants/:tenantId/members/:userId/limits',
    summary: "Set a member's own limits inside the tenant quota (tenant admin)",
    body: putMemberLimitsRequestSchema,
    response: memberSchema,
  },
  {
    method: 'delete',
    path: '/api/v1/tenants/:tenantId/members/:userId',
    summary: 'Remove a member (tenant admin)',
    status: 204,
  },
  {
    method: 'get',
    path: '/api/v1/users',
    summary: 'Every user (platform admin)',
    response: listOf(userSchema),
  },
  {
    method: 'post',
    path: '/api/v1/users',
    summary: 'Create a user (platform admin)',
    body: createUserRequestSchema,
    response: userSchema,
    status: 201,
  },
  {
    method: 'patch',
    path: '/api/v1/users/:userId',
    summary:
      'Rename, disable or enable a user (platform admin); a disabled user cannot sign in or use tokens or consoles',
    body: updateUserRequestSchema,
    response: userSchema,
  },
  {
    method: 'get',
    path: '/api/v1/host',
    summary: "This host's CPUs, memory, VMs by state and accelerator (platform admin)",
    response: hostCapacitySchema,
  },
  {
    method: 'get',
    path: '/api/v1/images',
    summary: 'Images the user can create VMs from',
    response: listOf(imageSchema),
  },
  {
    method: 'post',
    path: '/api/v1/images',
    summary:
      "Upload a qcow2, raw or ISO image (platform admin; tenant admin for their tenant's): the body is the file, described by the query; checked with qemu-img (no backing or data file)",
    query: uploadImageQuerySchema,
    binaryBody: 'The image file',
    response: imageSchema,
    status: 201,
  },
  { method: 'get', path: '/api/v1/images/:imageId', summary: 'An image', response: imageSchema },
  {
    method: 'delete',
    path: '/api/v1/images/:imageId',
    summary: "Delete an image no VM uses (platform admin; tenant admin for their tenant's)",
    status: 204,
  },
  {
    method: 'get',
    path: '/api/v1/vms',
    summary: 'VMs the user can see (`?tenantId=` for one tenant)',
    response: listOf(vmSchema),
  },
  {
    method: 'post',
    path: '/api/v1/vms',
    summary:
      'Create and start a VM if the quota admits it (`?dryRun=1` only answers whether it would)',
    body: createVmRequestSchema,
    response: vmSchema,
    status: 201,
  },
  { method: 'get', path: '/api/v1/vms/:vmId', summary: 'A VM', response: vmSchema },
  {
    method: 'delete',
    path: '/api/v1/vms/:vmId',
    summary: 'Delete a VM and every file it has',
    status: 204,
  },
  ...(['start', 'stop', 'reboot', 'suspend', 'resume'] as const).map(
    (action): ApiOperation => ({
      method: 'post',
      path: `/api/v1/vms/:vmId/${action}`,
      summary: `${action[0]!.toUpperCase()}${action.slice(1)} a VM; answers its new, often transitional, state`,
      response: vmSchema,
      status: 202,
    }),
  ),
  {
    method: 'get',
    path: '/api/v1/vms/:vmId/snapshots',
    summary: "A VM's snapshots, oldest first",
    response: listOf(snapshotSchema),
  },
  {
    method: 'post',
    path: '/api/v1/vms/:vmId/snapshots',
    summary: 'Take a snapshot (with memory: only while running or paused)',
    body: createSnapshotRequestSchema,
    response: snapshotSchema,
    status: 201,
  },
  {
    method: 'post',
    path: '/api/v1/vms/:vmId/snapshots/:snapshotId/restore',
    summary: 'Restore a snapshot; answers the VM',
    response: vmSchema,
  },
  {
    method: 'delete',
    path: '/api/v1/vms/:vmId/snapshots/:snapshotId',
    summary: 'Delete a snapshot',
    status: 204,
  },
  {
    method: 'post',
    path: '/api/v1/vms/:vmId/console',
    summary: 'A single-use ticket (about 30 s) to open the serial or VNC console over WebSocket',
    body: consoleTicketRequestSchema,
    response: consoleTicketSchema,
    status: 201,
  },
  {
    method: 'get',
    path: '/api/v1/tenants/:tenantId/consoles',
    summary:
      "Who is connected now to the consoles of a tenant's VMs, from this server's live console gateway (instructors and admins)",
    response: listOf(consoleConnectionSchema),
  },
  {
    method: 'get',
    path: '/api/v1/vms/:vmId/activity',
    summary:
      "A VM's recent activity, newest first: starts, stops, snapshots, consoles opened (`?limit=`, default 50)",
    response: listOf(vmActivitySchema),
  },
  {
    method: 'get',
    path: '/api/v1/vms/:vmId/recordings',
    summary: "A VM's serial console recordings (instructors and admins of its tenant)",
  },
  {
    method: 'get',
    path: '/api/v1/recordings/:recordingId/cast',
    summary: 'A recording as an asciicast v2 file',
  },
  {
    method: 'get',
    path: '/api/v1/audit',
    summary:
      'The audit log, newest first (platform admins; tenant admins with ?tenantId=); filters action, actorId; pages with before=<id>',
    response: listOf(auditEntrySchema),
  },
  { method: 'get', path: '/api/v1/openapi.json', summary: 'This document', public: true },
  { method: 'get', path: '/metrics', summary: 'Prometheus metrics', public: true },
  { method: 'get', path: '/healthz', summary: 'The process is up', public: true },
  {
    method: 'get',
    path: '/readyz',
    summary: 'Database and engine usable; names the accelerator and QEMU version',
    response: readinessSchema,
    public: true,
  },
];

const jsonSchema = (schema: z.ZodType) =>
  z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' });

/** The OpenAPI 3.1 document of the v1 API, generated from the shared zod schemas. */
export function buildOpenApiDocument(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const operation of API_OPERATIONS) {
    const openApiPath = operation.path.replace(/:(\w+)/g, '{$1}');
    const parameters: Record<string, unknown>[] = [...operation.path.matchAll(/:(\w+)/g)].map(
      (match) => ({
        name: match[1],
        in: 'path',
        required: true,
        schema: { type: 'string', format: 'uuid' },
      }),
    );
    for (const [name, field] of Object.entries(operation.query?.shape ?? {})) {
      const schema = field as z.ZodType;
      parameters.push({
        name,
        in: 'query',
        required: !schema.safeParse(undefined).success,
        schema: jsonSchema(schema),
      });
    }
    const status = String(operation.status ?? 200);
    paths[openApiPath] ??= {};
    paths[openApiPath][operation.method] = {
      summary: operation.summary,
      ...(parameters.length ? { parameters } : {}),
      ...(operation.public ? { security: [] } : {}),
      ...(operation.body
        ? {
            requestBody: {
              required: true,
              content: { 'application/json': { schema: jsonSchema(operation.body) } },
            },
          }
        : {}),
      ...(operation.binaryBody
        ? {
            requestBody: {
              required: true,
              description: operation.binaryBody,
              content: {
                'application/octet-stream': { schema: { type: 'string', format: 'binary' } },
              },
            },
          }
        : {}),
      responses: {
        [status]: {
          description: status === '204' ? 'Done' : 'Success',
          ...(operation.response
            ? { content: { 'application/json': { schema: jsonSchema(operation.response) } } }
            : {}),
        },
        default: {
          description:
            'An error: VALIDATION 400, UNAUTHENTICATED 401, FORBIDDEN 403, NOT_FOUND 404, CONFLICT / QUOTA_EXCEEDED / INVALID_STATE 409, PAYLOAD_TOO_LARGE 413, RATE_LIMITED 429, UNAVAILABLE 503',
          content: { 'application/json': { schema: jsonSchema(errorBodySchema) } },
        },
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Labvisor API', version: '1' },
    components: {
      securitySchemes: {
        session: { type: 'apiKey', in: 'cookie', name: 'labvisor.sid' },
        bearer: { type: 'http', scheme: 'bearer' },
      },
    },
    security: [{ session: [] }, { bearer: [] }],
    paths,
  };
}
