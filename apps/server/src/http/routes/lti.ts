import { toLtiPlatform } from '../../db/queries/lti.js';
import type { LtiPlatformService } from '../../domain/lti/lti-platforms.js';
import type { Handlers } from '../router.js';

/** A tenant's learning platforms: `/api/v1/tenants/:tenantId/lti-platforms`. */
export function ltiPlatformHandlers(
  platforms: LtiPlatformService,
): Handlers<'listLtiPlatforms' | 'createLtiPlatform' | 'deleteLtiPlatform'> {
  return {
    listLtiPlatforms: async ({ params }, { actor }) => ({
      items: (await platforms.list(actor, params.tenantId)).map(toLtiPlatform),
    }),
    createLtiPlatform: async ({ params, body }, { actor, ip }) =>
      toLtiPlatform(await platforms.create(actor, params.tenantId, body, ip)),
    deleteLtiPlatform: ({ params }, { actor, ip }) =>
      platforms.delete(actor, params.tenantId, params.platformId, ip),
  };
}
