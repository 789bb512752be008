import type {
  ApiToken,
  AuditEntry,
  ConsoleConnection,
  ConsoleTicket,
  CreatedToken,
  CreateVmRequest,
  ErrorBody,
  ErrorCode,
  HostCapacity,
  Image,
  LoginResponse,
  Member,
  MeResponse,
  Quota,
  QuotaLimits,
  Snapshot,
  Tenant,
  TenantRole,
  TenantUsage,
  UploadImageQuery,
  User,
  Vm,
  VmAction,
  VmActivity,
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

async function request<T>(method: string, url: string, body?: unknown): Promise<T> {
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
  if (response.status === 204) return undefined as T;
  const payload = (await response.json().catch(() => undefined)) as unknown;
  if (!response.ok) throw apiErrorOf(response.status, payload);
  return payload as T;
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
 * Sends a file as a POST body with XMLHttpRequest, which reports upload progress (fetch does
 * not); `onProgress` gets the bytes sent and the total. A cancelled upload rejects with an Error.
 */
function uploadFile<T>(
  url: string,
  file: Blob,
  onProgress: (sent: number, total: number) => void,
): Upload<T> {
  const xhr = new XMLHttpRequest();
  const done = new Promise<T>((resolve, reject) => {
    xhr.open('POST', url);
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
      if (xhr.status >= 200 && xhr.status < 300) resolve(payload as T);
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

/** The typed client of the Labvisor API, for the portal. */
export const api = {
  async login(email: string, password: string): Promise<LoginResponse> {
    const answer = await request<LoginResponse>('POST', '/api/v1/auth/login', { email, password });
    csrfToken = answer.csrfToken;
    return answer;
  },
  async logout(): Promise<void> {
    await request<void>('POST', '/api/v1/auth/logout');
    csrfToken = undefined;
  },
  async me(): Promise<MeResponse> {
    const answer = await request<MeResponse>('GET', '/api/v1/me');
    csrfToken = answer.csrfToken;
    return answer;
  },
  listRecordings: async (vmId: string) =>
    (
      await request<{
        items: Array<{
          id: string;
          vmName: string;
          startedAt: string;
          endedAt: string | null;
          viewers: Array<{ name: string; mode: string }>;
        }>;
      }>('GET', `/api/v1/vms/${vmId}/recordings`)
    ).items,
  providers: () => request<{ password: boolean; oidc: boolean }>('GET', '/api/v1/auth/providers'),
  /** The VMs the user can see; with a tenant, only that tenant's. */
  listVms: async (tenantId?: string) =>
    (
      await request<{ items: Vm[] }>(
        'GET',
        tenantId ? `/api/v1/vms?tenantId=${encodeURIComponent(tenantId)}` : '/api/v1/vms',
      )
    ).items,
  listImages: async () => (await request<{ items: Image[] }>('GET', '/api/v1/images')).items,
  /** Uploads an image file (its bytes as the body, described by the query), with progress. */
  uploadImage: (
    query: UploadImageQuery,
    file: Blob,
    onProgress: (sent: number, total: number) => void,
  ) => {
    const params = Object.entries(query).flatMap(([key, value]) =>
      value === undefined ? [] : [[key, String(value)]],
    );
    return uploadFile<Image>(`/api/v1/images?${new URLSearchParams(params)}`, file, onProgress);
  },
  deleteImage: (imageId: string) => request<void>('DELETE', `/api/v1/images/${imageId}`),
  quota: (tenantId: string) => request<Quota>('GET', `/api/v1/tenants/${tenantId}/quota`),
  /** Whether the quota would admit the VM; throws the refusal (QUOTA_EXCEEDED with details) if not. */
  checkVm: (body: CreateVmRequest) =>
    request<{ admitted: true }>('POST', '/api/v1/vms?dryRun=1', body),
  createVm: (body: CreateVmRequest) => request<Vm>('POST', '/api/v1/vms', body),
  vmAction: (vmId: string, action: VmAction) =>
    request<Vm>('POST', `/api/v1/vms/${vmId}/${action}`),
  deleteVm: (vmId: string) => request<void>('DELETE', `/api/v1/vms/${vmId}`),
  getVm: (vmId: string) => request<Vm>('GET', `/api/v1/vms/${vmId}`),
  vmActivity: async (vmId: string) =>
    (await request<{ items: VmActivity[] }>('GET', `/api/v1/vms/${vmId}/activity`)).items,
  listSnapshots: async (vmId: string) =>
    (await request<{ items: Snapshot[] }>('GET', `/api/v1/vms/${vmId}/snapshots`)).items,
  createSnapshot: (vmId: string, body: { name: string; memory: boolean }) =>
    request<Snapshot>('POST', `/api/v1/vms/${vmId}/snapshots`, body),
  restoreSnapshot: (vmId: string, snapshotId: string) =>
    request<Vm>('POST', `/api/v1/vms/${vmId}/snapshots/${snapshotId}/restore`),
  deleteSnapshot: (vmId: string, snapshotId: string) =>
    request<void>('DELETE', `/api/v1/vms/${vmId}/snapshots/${snapshotId}`),
  getTenant: (tenantId: string) => request<Tenant>('GET', `/api/v1/tenants/${tenantId}`),
  listMembers: async (tenantId: string) =>
    (await request<{ items: Member[] }>('GET', `/api/v1/tenants/${tenantId}/members`)).items,
  /** Who is connected now to the consoles of the tenant's VMs (instructors and admins). */
  tenantConsoles: async (tenantId: string) =>
    (await request<{ items: ConsoleConnection[] }>('GET', `/api/v1/tenants/${tenantId}/consoles`))
      .items,
  listTokens: async () => (await request<{ items: ApiToken[] }>('GET', '/api/v1/tokens')).items,
  createToken: (body: { name: string; expiresInDays?: number }) =>
    request<CreatedToken>('POST', '/api/v1/tokens', body),
  revokeToken: (tokenId: string) => request<void>('DELETE', `/api/v1/tokens/${tokenId}`),
  // Tenant and platform administration.
  listTenants: async () => (await request<{ items: Tenant[] }>('GET', '/api/v1/tenants')).items,
  createTenant: (name: string) => request<Tenant>('POST', '/api/v1/tenants', { name }),
  deleteTenant: (tenantId: string) => request<void>('DELETE', `/api/v1/tenants/${tenantId}`),
  putQuota: (tenantId: string, limits: QuotaLimits) =>
    request<Quota>('PUT', `/api/v1/tenants/${tenantId}/quota`, { limits }),
  addMember: (tenantId: string, body: { email: string; role: TenantRole }) =>
    request<Member>('POST', `/api/v1/tenants/${tenantId}/members`, body),
  setMemberRole: (tenantId: string, userId: string, role: TenantRole) =>
    request<Member>('PATCH', `/api/v1/tenants/${tenantId}/members/${userId}`, { role }),
  setMemberLimits: (tenantId: string, userId: string, limits: Member['limits']) =>
    request<Member>('PUT', `/api/v1/tenants/${tenantId}/members/${userId}/limits`, { limits }),
  removeMember: (tenantId: string, userId: string) =>
    request<void>('DELETE', `/api/v1/tenants/${tenantId}/members/${userId}`),
  tenantUsage: (tenantId: string, days: number) =>
    request<TenantUsage>('GET', `/api/v1/tenants/${tenantId}/usage?days=${days}`),
  host: () => request<HostCapacity>('GET', '/api/v1/host'),
  listUsers: async () => (await request<{ items: User[] }>('GET', '/api/v1/users')).items,
  createUser: (body: { email: string; name: string; password: string; isPlatformAdmin: boolean }) =>
    request<User>('POST', '/api/v1/users', body),
  setUserDisabled: (userId: string, disabled: boolean) =>
    request<User>('PATCH', `/api/v1/users/${userId}`, { disabled }),
  /** Audit entries, newest first; `before` is the id of the oldest entry already shown. */
  audit: async (filters: {
    tenantId?: string;
    action?: string;
    actorId?: string;
    before?: string;
    limit: number;
  }) => {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(filters))
      if (value !== undefined && value !== '') query.set(key, String(value));
    return (await request<{ items: AuditEntry[] }>('GET', `/api/v1/audit?${query}`)).items;
  },
  consoleTicket: (vmId: string, kind: 'serial' | 'vnc', mode: 'interactive' | 'view') =>
    request<ConsoleTicket>('POST', `/api/v1/vms/${vmId}/console`, { kind, mode }),
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
