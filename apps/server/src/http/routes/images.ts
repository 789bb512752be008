import { toImage } from '../../db/queries/images.js';
import type { ImageCatalog } from '../../domain/images/image-catalog.js';
import type { ImageImport } from '../../domain/images/image-import.js';
import { AppError } from '../../errors.js';
import type { Handlers } from '../router.js';

/** Guest images: `/api/v1/images`; uploads (qcow2, raw, ISO) and deletes through ImageImport. */
export function imageHandlers(
  catalog: ImageCatalog,
  images: ImageImport,
): Handlers<'listImages' | 'uploadImage' | 'getImage' | 'deleteImage'> {
  return {
    listImages: async (_input, { actor }) => ({ items: await catalog.list(actor) }),
    uploadImage: async ({ query }, { req, res, actor, ip }) => {
      // Whatever the answer, the connection closes after it: a refused upload's body is never read.
      res.setHeader('Connection', 'close');
      if (!req.is('application/octet-stream')) {
        throw new AppError(
          'VALIDATION',
          'Send the image file as the request body with Content-Type: application/octet-stream.',
        );
      }
      const declaredLength = req.get('content-length');
      const contentLength = declaredLength === undefined ? undefined : Number(declaredLength);
      return toImage(await images.upload({ actor, query, contentLength, ip }, req), 0);
    },
    getImage: ({ params }, { actor }) => catalog.get(actor, params.imageId),
    deleteImage: async ({ params }, { actor, ip }) =>
      images.delete(actor, await catalog.row(actor, params.imageId), ip),
  };
}
