import type { Request } from 'express';
import { AppError } from '../errors.js';

/** A request's raw body, at most `maxBytes` (PAYLOAD_TOO_LARGE beyond, saying the limit). */
export async function readBinaryBody(
  req: Request,
  maxBytes: number,
  what: string,
): Promise<Buffer> {
  const declared = Number(req.get('content-length') ?? Number.NaN);
  const tooLarge = () =>
    new AppError('PAYLOAD_TOO_LARGE', `${what} may be at most ${maxBytes / 1024 ** 2} MiB.`, {
      maxBytes,
    });
  if (declared > maxBytes) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) throw tooLarge();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
