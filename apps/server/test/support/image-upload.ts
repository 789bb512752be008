import type { TestClient } from './test-server.js';

/** Sends an image file as the body of `POST /api/v1/images`, with the client's session. */
export async function uploadImage(
  client: TestClient,
  query: Record<string, string>,
  body: Buffer,
  contentType = 'application/octet-stream',
): Promise<{ status: number; body: any }> {
  const response = await fetch(`${client.baseUrl}/api/v1/images?${new URLSearchParams(query)}`, {
    method: 'POST',
    headers: {
      'content-type': contentType,
      cookie: client.cookieHeader ?? '',
      'x-csrf-token': client.csrfToken ?? '',
    },
    body,
  });
  return { status: response.status, body: await response.json() };
}
