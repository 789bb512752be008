import type { ErrorBody, ErrorCode, LoginResponse, MeResponse } from '@labvisor/shared';

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
  if (!response.ok) {
    const error = (payload as ErrorBody | undefined)?.error;
    const code = error?.code ?? 'INTERNAL';
    const message =
      code === 'INTERNAL' || !error?.message
        ? (FRIENDLY_MESSAGES[code] ?? 'Request failed.')
        : error.message;
    throw new ApiError(code, message, response.status, error?.details);
  }
  return payload as T;
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
};
