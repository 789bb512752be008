import type { Request } from 'express';

/**
 * The origin browsers reach this server at (for URLs handed to identity providers and learning
 * platforms): the configured public origin behind a proxy, else the request's own.
 */
export function publicOriginOf(req: Request, configured: string | undefined): string {
  return configured ?? `${req.protocol}://${req.get('host')}`;
}
