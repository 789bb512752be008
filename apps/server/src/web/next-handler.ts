import { existsSync } from 'node:fs';
import path from 'node:path';
import type { RequestHandler } from 'express';
import nextModule from 'next';

// next is CommonJS: under NodeNext its types show `{default}` while Node hands us the function itself.
const createNextServer = ((nextModule as { default?: unknown }).default ??
  nextModule) as typeof nextModule.default;

/** Thrown when the portal has not been built. */
export class PortalNotBuiltError extends Error {
  override name = 'PortalNotBuiltError';
}

/** Prepares the built Next.js portal in `webDir` and returns an Express handler serving it. */
export async function createPortalHandler(webDir: string): Promise<RequestHandler> {
  if (!existsSync(path.join(webDir, '.next', 'BUILD_ID'))) {
    throw new PortalNotBuiltError(
      `The portal is not built (no ${webDir}/.next); run "npm run build".`,
    );
  }
  const portal = createNextServer({ dev: false, dir: webDir, quiet: true });
  await portal.prepare();
  const handle = portal.getRequestHandler();
  return (req, res) => handle(req, res);
}
