import {
  API_ROUTES,
  type ErrorBody,
  type ErrorCode,
  fillPath,
  type RouteAnswer,
  type RouteRequest,
  type RouteSpec,
  VM_ACTION_ROUTES,
  type VmAction,
} from '@labvisor/shared';

/** An API error, carrying the contract's code and a sentence a person understands. */
export class ApiError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly status: number,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}

/** What each error code means to a student, when the server's own sentence is not enough. */
const FRIENDLY_MESSAGES: Partial<Record<ErrorCode, string>> = {
  UNAUTHENTICATED: 'Please sign in again.',
  FORBIDDEN: 'You are not allowed to do that.',
  NOT_FOUND: 'That does not exist, or you cannot see it.',
  RATE_LIMITED: 'Too many attempts. Wait a minute and try again.',
  UNAVAILABLE: 'The service is not available right now. Try again in a moment.',
  INTERNAL:
    'Something went wrong on our side. Try again, and tell your admin if it keeps happening.',
};

let csrfToken: string | undefined;

/** A route that answers JSON (or nothing, with 204): not a redirect, a file or metrics text. */
type JsonRoute = RouteSpec & { produces?: never };

/** The JSON body a route takes. */
type BodyOf<R extends RouteSpec> = RouteRequest<R>['body'];

/** The query a route takes. */
type QueryOf<R extends RouteSpec> = RouteRequest<R>['query'];

/**
 * What a client sends to a route, each part required exactly when the route needs it: path
 * parameters when its path has any, a query when the query has required fields, a body when the
 * route takes one. A part the route does not take cannot be given.
 */
export type CallRequest<R extends RouteSpec> = (keyof RouteRequest<R>['params'] extends never
  ? { params?: never }
  : { params: RouteRequest<R>['params'] }) &
  (QueryOf<R> extends undefined
    ? { query?: never }
    : Record<never, never> extends QueryOf<R>
      ? { query?: QueryOf<R> }
      : { query: QueryOf<R> }) &
  (BodyOf<R> extends undefined ? { body?: never } : { body: BodyOf<R> });

/** The request argument of a route: optional when the route needs nothing. */
type CallArgs<R extends RouteSpec> =
  Record<never, never> extends CallRequest<R>
    ? [request?: CallRequest<R>]
    : [request: CallRequest<R>];

/** A request as the untyped implementations see it. */
interface LooseRequest {
  params?: Record<string, string>;
  query?: Record<string, unknown>;
  body?: unknown;
}

/** The answer a route gives with another success status than its own (`otherAnswers`). */
type OtherAnswer<R extends RouteSpec, S extends number> =
  R['otherAnswers'] extends Record<S, { response?: infer Schema extends RouteSpec['response'] }>
    ? RouteAnswer<Omit<RouteSpec, 'response'> & { response: Schema }>
    : never;

/**
 * The URL of a request to a route: its path with the parameters filled in (URI-encoded), then
 * the query without its undefined and empty values.
 */
export function routeUrl<R extends RouteSpec>(route: R, ...[request]: CallArgs<R>): string;
export function routeUrl(route: RouteSpec, request: LooseRequest = {}): string {
  return urlOf(route, request);
}

/** The URL of a request to a route, untyped. */
function urlOf(route: RouteSpec, request: LooseRequest): string {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(request.query ?? {}))
    if (value !== undefined && value !== '') query.set(key, String(value));
  const path = fillPath(route.path, request.params ?? {});
  const search = query.toString();
  return search ? `${path}?${search}` : path;
}

/**
 * Sends a request to a JSON route and answers its parsed JSON (undefined for 204), typed from the
 * route's response schema but not checked at runtime. A refusal rejects with its ApiError; a
 * network failure with UNAVAILABLE.
 */
export function call<R extends JsonRoute>(
  route: R,
  ...[request]: CallArgs<R>
): Promise<RouteAnswer<R>>;
export async function call(route: RouteSpec, request: LooseRequest = {}): Promise<unknown> {
  // fetch upper-cases only some methods itself (not PATCH), and the CSRF check compares with GET.
  const method = route.method.toUpperCase();
  const url = urlOf(route, request);
  const { body } = request;
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['x-csrf-token'] = csrfToken;
  let response: Response;
  try {
    response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
    });
  } catch {
    throw new ApiError('UNAVAILABLE', 'Cannot reach the server. Check your connection.', 0);
  }
  if (response.status === 204) return undefined;
  const payload = (await response.json().catch(() => undefined)) as unknown;
  if (!response.ok) throw apiErrorOf(response.status, payload);
  return payload;
}

/** The ApiError of a refused answer: the server's sentence, or a friendly one for its code. */
function apiErrorOf(status: number, payload: unknown): ApiError {
  const error = (payload as ErrorBody | undefined)?.error;
  const code = error?.code ?? 'INTERNAL';
  const message =
    code === 'INTERNAL' || !error?.message
      ? (FRIENDLY_MESSAGES[code] ?? 'Request failed.')
      : error.message;
  return new ApiError(code, message, status, error?.details);
}

/** An upload under way: its answer, and how to cancel it. */
export interface Upload<T> {
  done: Promise<T>;
  cancel(): void;
}

/**
 * Sends a file as the raw body of a route's request with XMLHttpRequest, which reports upload
 * progress (fetch does not); `onProgress` gets the bytes sent and the total. A cancelled upload
 * rejects with an Error.
 */
function uploadFile<R extends RouteSpec & { binaryBody: string }>(
  route: R,
  request: CallRequest<R>,
  file: Blob,
  onProgress: (sent: number, total: number) => void,
): Upload<RouteAnswer<R>> {
  const xhr = new XMLHttpRequest();
  const done = new Promise<RouteAnswer<R>>((resolve, reject) => {
    xhr.open(route.method.toUpperCase(), urlOf(route, request as LooseRequest));
    xhr.setRequestHeader('accept', 'application/json');
    xhr.setRequestHeader('content-type', 'application/octet-stream');
    if (csrfToken) xhr.setRequestHeader('x-csrf-token', csrfToken);
    xhr.upload.onprogress = (event) =>
      onProgress(event.loaded, event.lengthComputable ? event.total : file.size);
    xhr.onload = () => {
      let payload: unknown;
      try {
        payload = JSON.parse(xhr.responseText);
      } catch {}
      if (xhr.status >= 200 && xhr.status < 300) resolve(payload as RouteAnswer<R>);
      else reject(apiErrorOf(xhr.status, payload));
    };
    xhr.onerror = () =>
      reject(
        new ApiError(
          'UNAVAILABLE',
          'The upload stopped: the connection to the server was lost or closed.',
          0,
        ),
      );
    xhr.onabort = () => reject(new Error('The upload was cancelled.'));
    xhr.send(file);
  });
  return { done, cancel: () => xhr.abort() };
}

/** The answer of `createVm` with `?dryRun=1`: whether the quota would admit the VM. */
type DryRunAnswer = OtherAnswer<typeof API_ROUTES.createVm, 200>;

/** The typed client of the Labvisor API, for the portal; each method calls one route. */
export const api = {
  async login(email: string, password: string) {
    const answer = await call(API_ROUTES.login, { body: { email, password } });
    csrfToken = answer.csrfToken;
    return answer;
  },
  /** Creates an account with an invite link, joins its tenant and signs in. */
  async registerWithInvite(body: BodyOf<typeof API_ROUTES.registerWithInvite>) {
    const answer = await call(API_ROUTES.registerWithInvite, { body });
    csrfToken = answer.csrfToken;
    return answer;
  },
  /** Signs in with a one-time sign-in link (a roster import's). */
  async signInWithLink(token: string) {
    const answer = await call(API_ROUTES.signInWithLink, { body: { token } });
    csrfToken = answer.csrfToken;
    return answer;
  },
  /** Sets the signed-in user's password. */
  setPassword: (body: BodyOf<typeof API_ROUTES.setPassword>) =>
    call(API_ROUTES.setPassword, { body }),
  /** Previews (`dryRun`) or applies a roster import (tenant admins). */
  importRoster: (tenantId: string, csv: string, dryRun: boolean) =>
    call(API_ROUTES.importRoster, {
      params: { tenantId },
      query: dryRun ? { dryRun: '1' } : {},
      body: { csv },
    }),
  /** What joining with an invite link does (anyone). */
  lookupInvite: (token: string) => call(API_ROUTES.lookupInvite, { body: { token } }),
  /** Joins the invite link's tenant as the signed-in user. */
  acceptInvite: (token: string) => call(API_ROUTES.acceptInvite, { body: { token } }),
  /** A tenant's invite links (instructors and admins). */
  listInvites: async (tenantId: string) =>
    (await call(API_ROUTES.listInvites, { params: { tenantId } })).items,
  createInvite: (tenantId: string, body: BodyOf<typeof API_ROUTES.createInvite>) =>
    call(API_ROUTES.createInvite, { params: { tenantId }, body }),
  revokeInvite: (tenantId: string, inviteId: string) =>
    call(API_ROUTES.revokeInvite, { params: { tenantId, inviteId } }),
  async logout() {
    await call(API_ROUTES.logout);
    csrfToken = undefined;
  },
  async me() {
    const answer = await call(API_ROUTES.me);
    csrfToken = answer.csrfToken;
    return answer;
  },
  /** A VM's serial console recordings (instructors and admins of its tenant). */
  listRecordings: async (vmId: string) =>
    (await call(API_ROUTES.listRecordings, { params: { vmId } })).items,
  /** Which sign-in methods are offered. */
  providers: () => call(API_ROUTES.authProviders),
  /** The VMs the user can see; with a tenant, only that tenant's. */
  listVms: async (tenantId?: string) =>
    (await call(API_ROUTES.listVms, { query: { tenantId } })).items,
  listImages: async () => (await call(API_ROUTES.listImages)).items,
  /** Resets a lab to its image: its disk, snapshots and suspended state are lost. */
  resetVm: (vmId: string) => call(API_ROUTES.resetVm, { params: { vmId } }),
  /** Publishes a stopped lab's disk as a class template (instructors and admins). */
  publishVm: (vmId: string, name: string) =>
    call(API_ROUTES.publishVm, { params: { vmId }, body: { name } }),
  /** Resets the labs of a class's members, or of some of them (instructors and admins). */
  resetClassLabs: (tenantId: string, ownerIds?: string[]) =>
    call(API_ROUTES.resetClassLabs, {
      params: { tenantId },
      body: ownerIds ? { ownerIds } : {},
    }),
  /** Uploads an image file (its bytes as the body, described by the query), with progress. */
  uploadImage: (
    query: QueryOf<typeof API_ROUTES.uploadImage>,
    file: Blob,
    onProgress: (sent: number, total: number) => void,
  ) => uploadFile(API_ROUTES.uploadImage, { query }, file, onProgress),
  deleteImage: (imageId: string) => call(API_ROUTES.deleteImage, { params: { imageId } }),
  /** Uploads a file into a running lab at `path` (absolute or `~/…`), with progress. */
  writeLabFile: (
    vmId: string,
    path: string,
    file: Blob,
    onProgress: (sent: number, total: number) => void,
  ) => uploadFile(API_ROUTES.writeLabFile, { params: { vmId }, query: { path } }, file, onProgress),
  /** Where the browser downloads a file of a running lab. */
  labFileUrl: (vmId: string, path: string) =>
    urlOf(API_ROUTES.readLabFile, { params: { vmId }, query: { path } }),
  /** Hands a file out to every member's running lab of the class at `path` (instructors). */
  handoutFile: (
    tenantId: string,
    path: string,
    file: Blob,
    onProgress: (sent: number, total: number) => void,
  ) =>
    uploadFile(API_ROUTES.handoutFile, { params: { tenantId }, query: { path } }, file, onProgress),
  /** Where the browser downloads the archive of `path` collected from the class's labs. */
  collectUrl: (tenantId: string, path: string) =>
    urlOf(API_ROUTES.collectFiles, { params: { tenantId }, query: { path } }),
  quota: (tenantId: string) => call(API_ROUTES.getQuota, { params: { tenantId } }),
  /** Whether the quota would admit the VM; throws the refusal (QUOTA_EXCEEDED with details) if not. */
  checkVm: async (body: BodyOf<typeof API_ROUTES.createVm>) => {
    // A dry run answers the route's other success answer (200), not the created VM.
    const answer: unknown = await call(API_ROUTES.createVm, { query: { dryRun: '1' }, body });
    return answer as DryRunAnswer;
  },
  createVm: (body: BodyOf<typeof API_ROUTES.createVm>) => call(API_ROUTES.createVm, { body }),
  vmAction: (vmId: string, action: VmAction) =>
    call(VM_ACTION_ROUTES[action], { params: { vmId } }),
  deleteVm: (vmId: string) => call(API_ROUTES.deleteVm, { params: { vmId } }),
  openVmPort: (vmId: string, port: number) =>
    call(API_ROUTES.openVmPort, { params: { vmId }, body: { port } }),
  updateVm: (vmId: string, body: BodyOf<typeof API_ROUTES.updateVm>) =>
    call(API_ROUTES.updateVm, { params: { vmId }, body }),
  getVm: (vmId: string) => call(API_ROUTES.getVm, { params: { vmId } }),
  vmActivity: async (vmId: string) =>
    (await call(API_ROUTES.vmActivity, { params: { vmId } })).items,
  listSnapshots: async (vmId: string) =>
    (await call(API_ROUTES.listSnapshots, { params: { vmId } })).items,
  createSnapshot: (vmId: string, body: BodyOf<typeof API_ROUTES.createSnapshot>) =>
    call(API_ROUTES.createSnapshot, { params: { vmId }, body }),
  restoreSnapshot: (vmId: string, snapshotId: string) =>
    call(API_ROUTES.restoreSnapshot, { params: { vmId, snapshotId } }),
  deleteSnapshot: (vmId: string, snapshotId: string) =>
    call(API_ROUTES.deleteSnapshot, { params: { vmId, snapshotId } }),
  getTenant: (tenantId: string) => call(API_ROUTES.getTenant, { params: { tenantId } }),
  /** Changes a tenant: its class settings (tenant admins), its name and recording (platform admins). */
  updateTenant: (tenantId: string, body: BodyOf<typeof API_ROUTES.updateTenant>) =>
    call(API_ROUTES.updateTenant, { params: { tenantId }, body }),
  /** The tenant's warm pools with what each holds now (instructors and admins). */
  getPools: async (tenantId: string) =>
    (await call(API_ROUTES.getPools, { params: { tenantId } })).pools,
  /** Sets every warm pool of the tenant; pools left out are emptied. */
  putPools: async (tenantId: string, pools: BodyOf<typeof API_ROUTES.putPools>['pools']) =>
    (await call(API_ROUTES.putPools, { params: { tenantId }, body: { pools } })).pools,
  /** The tenant's class hours, and whether they are on now (members of the tenant). */
  getSchedule: (tenantId: string) => call(API_ROUTES.getSchedule, { params: { tenantId } }),
  /** Sets the tenant's class hours (instructors and admins). */
  putSchedule: (tenantId: string, body: BodyOf<typeof API_ROUTES.putSchedule>) =>
    call(API_ROUTES.putSchedule, { params: { tenantId }, body }),
  /** Removes the tenant's class hours (instructors and admins). */
  deleteSchedule: (tenantId: string) => call(API_ROUTES.deleteSchedule, { params: { tenantId } }),
  /** The tenant's registered learning platforms (admins). */
  listLtiPlatforms: async (tenantId: string) =>
    (await call(API_ROUTES.listLtiPlatforms, { params: { tenantId } })).items,
  /** Registers a learning platform whose launches sign people into the tenant (admins). */
  createLtiPlatform: (tenantId: string, body: BodyOf<typeof API_ROUTES.createLtiPlatform>) =>
    call(API_ROUTES.createLtiPlatform, { params: { tenantId }, body }),
  /** Removes a learning platform's registration (admins). */
  deleteLtiPlatform: (tenantId: string, platformId: string) =>
    call(API_ROUTES.deleteLtiPlatform, { params: { tenantId, platformId } }),
  listMembers: async (tenantId: string) =>
    (await call(API_ROUTES.listMembers, { params: { tenantId } })).items,
  /** Who is connected now to the consoles of the tenant's VMs (instructors and admins). */
  tenantConsoles: async (tenantId: string) =>
    (await call(API_ROUTES.tenantConsoles, { params: { tenantId } })).items,
  listTokens: async () => (await call(API_ROUTES.listTokens)).items,
  createToken: (body: BodyOf<typeof API_ROUTES.createToken>) =>
    call(API_ROUTES.createToken, { body }),
  revokeToken: (tokenId: string) => call(API_ROUTES.revokeToken, { params: { tokenId } }),
  // Tenant and platform administration.
  listTenants: async () => (await call(API_ROUTES.listTenants)).items,
  createTenant: (name: string) => call(API_ROUTES.createTenant, { body: { name } }),
  deleteTenant: (tenantId: string) => call(API_ROUTES.deleteTenant, { params: { tenantId } }),
  putQuota: (tenantId: string, limits: BodyOf<typeof API_ROUTES.putQuota>['limits']) =>
    call(API_ROUTES.putQuota, { params: { tenantId }, body: { limits } }),
  addMember: (tenantId: string, body: BodyOf<typeof API_ROUTES.addMember>) =>
    call(API_ROUTES.addMember, { params: { tenantId }, body }),
  setMemberRole: (
    tenantId: string,
    userId: string,
    role: BodyOf<typeof API_ROUTES.setMemberRole>['role'],
  ) => call(API_ROUTES.setMemberRole, { params: { tenantId, userId }, body: { role } }),
  setMemberLimits: (
    tenantId: string,
    userId: string,
    limits: BodyOf<typeof API_ROUTES.setMemberLimits>['limits'],
  ) => call(API_ROUTES.setMemberLimits, { params: { tenantId, userId }, body: { limits } }),
  removeMember: (tenantId: string, userId: string) =>
    call(API_ROUTES.removeMember, { params: { tenantId, userId } }),
  tenantUsage: (tenantId: string, days: number) =>
    call(API_ROUTES.tenantUsage, { params: { tenantId }, query: { days } }),
  host: () => call(API_ROUTES.host),
  evacuateMember: (member: string) => call(API_ROUTES.evacuateMember, { body: { member } }),
  restoreMember: (member: string) => call(API_ROUTES.restoreMember, { body: { member } }),
  listUsers: async () => (await call(API_ROUTES.listUsers)).items,
  createUser: (body: BodyOf<typeof API_ROUTES.createUser>) => call(API_ROUTES.createUser, { body }),
  setUserDisabled: (userId: string, disabled: boolean) =>
    call(API_ROUTES.updateUser, { params: { userId }, body: { disabled } }),
  /** Audit entries, newest first; `before` is the id of the oldest entry already shown. */
  audit: async (filters: QueryOf<typeof API_ROUTES.audit>) =>
    (await call(API_ROUTES.audit, { query: filters })).items,
  consoleTicket: (
    vmId: string,
    kind: BodyOf<typeof API_ROUTES.consoleTicket>['kind'],
    mode: NonNullable<BodyOf<typeof API_ROUTES.consoleTicket>['mode']>,
  ) => call(API_ROUTES.consoleTicket, { params: { vmId }, body: { kind, mode } }),
};

/** A refusal's sentence for a student: which limit, how much is used and how much was asked. */
export function describeError(error: unknown): string {
  if (!(error instanceof ApiError)) return error instanceof Error ? error.message : String(error);
  if (error.code === 'QUOTA_EXCEEDED' && error.details) {
    const { resource, limit, used, requested } = error.details as Record<string, number | string>;
    const label = RESOURCE_LABELS[String(resource)] ?? String(resource);
    return `Not enough quota for ${label}: ${used} of ${limit} in use, ${requested} more requested.`;
  }
  return error.message;
}

const RESOURCE_LABELS: Record<string, string> = {
  runningVms: 'running labs',
  vcpus: 'virtual CPUs',
  memoryMib: 'memory (MiB)',
  diskGib: 'disk (GiB)',
  snapshots: 'snapshots',
  vmHoursPerMonth: 'lab hours this month',
  hostVcpus: "the host's CPUs",
  hostMemoryMib: "the host's memory (MiB)",
  apiTokens: 'API tokens',
};
