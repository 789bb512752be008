import { handoutResponseSchema, labFileQuerySchema } from '../files.js';
import { type RouteSpec, route } from './route-spec.js';

/**
 * Files in and out of labs, through their guest agent (never the guest's network), at most 1 MiB
 * each: a lab's own, and a class's handout and collection.
 */
export const FILE_ROUTES = {
  readLabFile: route({
    method: 'get',
    path: '/api/v1/vms/:vmId/files',
    summary: 'Download a file from a running lab (`?path=`, absolute or `~/…`)',
    access: 'signed-in',
    query: labFileQuerySchema,
    status: 200,
    produces: 'the file (application/octet-stream, as an attachment)',
  }),
  writeLabFile: route({
    method: 'put',
    path: '/api/v1/vms/:vmId/files',
    summary: 'Upload a file into a running lab (`?path=`): the body is the file, at most 1 MiB',
    access: 'signed-in',
    query: labFileQuerySchema,
    binaryBody: 'The file',
    status: 204,
  }),
  handoutFile: route({
    method: 'post',
    path: '/api/v1/tenants/:tenantId/handout',
    summary:
      "Hand a file out to every member's running lab at `?path=` (instructor or admin): the body is the file",
    access: 'signed-in',
    query: labFileQuerySchema,
    binaryBody: 'The file',
    response: handoutResponseSchema,
    status: 200,
  }),
  collectFiles: route({
    method: 'get',
    path: '/api/v1/tenants/:tenantId/collect',
    summary:
      "Collect the file at `?path=` from every member's running lab as one tar archive, with MISSING.txt naming each member who had none (instructor or admin)",
    access: 'signed-in',
    query: labFileQuerySchema,
    status: 200,
    produces: 'a tar archive (application/x-tar)',
  }),
} as const satisfies Record<string, RouteSpec>;
