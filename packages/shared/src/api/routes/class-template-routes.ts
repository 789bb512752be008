import {
  publishVmRequestSchema,
  resetClassLabsRequestSchema,
  resetClassLabsResponseSchema,
} from '../class-templates.js';
import { imageSchema } from '../images.js';
import { vmSchema } from '../vms.js';
import { type RouteSpec, route } from './route-spec.js';

/** Class templates: a prepared lab published as the class's image, and labs reset to their image. */
export const CLASS_TEMPLATE_ROUTES = {
  publishVm: route({
    method: 'post',
    path: '/api/v1/vms/:vmId/publish',
    summary:
      "Publish a stopped lab's disk as a class template: a new image of its tenant that members launch from (instructor or admin)",
    access: 'signed-in',
    body: publishVmRequestSchema,
    response: imageSchema,
    status: 201,
  }),
  resetVm: route({
    method: 'post',
    path: '/api/v1/vms/:vmId/reset',
    summary:
      'Reset a lab to its image: its disk, snapshots and suspended state are lost; a running lab runs again, fresh',
    access: 'signed-in',
    response: vmSchema,
    status: 202,
  }),
  resetClassLabs: route({
    method: 'post',
    path: '/api/v1/tenants/:tenantId/reset-labs',
    summary:
      "Reset the labs of a class's members (all, or those of `ownerIds`) to their images (instructor or admin)",
    access: 'signed-in',
    body: resetClassLabsRequestSchema,
    response: resetClassLabsResponseSchema,
    status: 202,
  }),
} as const satisfies Record<string, RouteSpec>;
