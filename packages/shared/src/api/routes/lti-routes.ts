import { listOf } from '../common.js';
import { createLtiPlatformRequestSchema, ltiPlatformSchema } from '../lti.js';
import { type RouteSpec, route } from './route-spec.js';

/**
 * A tenant's learning platforms (LTI 1.3). The launches themselves are browser endpoints outside
 * the API (`LTI_PATHS`): the platform redirects and posts forms there.
 */
export const LTI_ROUTES = {
  listLtiPlatforms: route({
    method: 'get',
    path: '/api/v1/tenants/:tenantId/lti-platforms',
    summary: "A tenant's registered learning platforms (admin)",
    access: 'signed-in',
    response: listOf(ltiPlatformSchema),
    status: 200,
  }),
  createLtiPlatform: route({
    method: 'post',
    path: '/api/v1/tenants/:tenantId/lti-platforms',
    summary:
      'Register a learning platform (LTI 1.3): its launches create accounts and memberships in the tenant (admin)',
    access: 'signed-in',
    body: createLtiPlatformRequestSchema,
    response: ltiPlatformSchema,
    status: 201,
  }),
  deleteLtiPlatform: route({
    method: 'delete',
    path: '/api/v1/tenants/:tenantId/lti-platforms/:platformId',
    summary:
      "Remove a learning platform's registration; its launches are refused from then on (admin)",
    access: 'signed-in',
    status: 204,
  }),
} as const satisfies Record<string, RouteSpec>;
