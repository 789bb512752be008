import { listOf } from '../common.js';
import { imageSchema, uploadImageQuerySchema } from '../images.js';
import { type RouteSpec, route } from './route-spec.js';

/** Guest images. */
export const IMAGE_ROUTES = {
  listImages: route({
    method: 'get',
    path: '/api/v1/images',
    summary: 'Images the user can create VMs from',
    access: 'signed-in',
    response: listOf(imageSchema),
    status: 200,
  }),
  uploadImage: route({
    method: 'post',
    path: '/api/v1/images',
    summary:
      "Upload a qcow2, raw or ISO image (platform admin; tenant admin for their tenant's): the body is the file, described by the query; checked with qemu-img (no backing or data file)",
    access: 'signed-in',
    query: uploadImageQuerySchema,
    binaryBody: 'The image file',
    response: imageSchema,
    status: 201,
  }),
  getImage: route({
    method: 'get',
    path: '/api/v1/images/:imageId',
    summary: 'An image',
    access: 'signed-in',
    response: imageSchema,
    status: 200,
  }),
  deleteImage: route({
    method: 'delete',
    path: '/api/v1/images/:imageId',
    summary: "Delete an image no VM uses (platform admin; tenant admin for their tenant's)",
    access: 'signed-in',
    status: 204,
  }),
} as const satisfies Record<string, RouteSpec>;
