import { uploadImageQuerySchema } from '@labvisor/shared';
import { Router } from 'express';
import type { Knex } from 'knex';
import { type ImageRow, toImage } from '../../db/queries/images.js';
import type { Actor } from '../../domain/auth/access.js';
import type { ImageImport } from '../../domain/images/image-import.js';
import { AppError } from '../../errors.js';
import { actorOf } from '../auth/authentication.js';
import { parseIdParam, parseInput } from '../validate.js';

/** Images visible to an actor: global ones and those of their tenants. */
function visibleImages(knex: Knex, actor: Actor): Knex.QueryBuilder<ImageRow, ImageRow[]> {
  const query = knex<ImageRow>('images');
  if (actor.user.is_platform_admin) return query;
  return query.where((q) =>
    q.whereNull('tenant_id').orWhereIn('tenant_id', [...actor.roles.keys()]),
  );
}

/** How many VMs in the tenants the actor can see were made from each image. */
async function countVmsByImage(
  knex: Knex,
  actor: Actor,
  imageIds: string[],
): Promise<Map<string, number>> {
  const query = knex('vms').whereIn('image_id', imageIds).groupBy('image_id');
  if (!actor.user.is_platform_admin) query.whereIn('tenant_id', [...actor.roles.keys()]);
  const rows = await query.select<{ image_id: string; count: string | number }[]>(
    'image_id',
    knex.raw('count(*) as count'),
  );
  return new Map(rows.map((row) => [row.image_id, Number(row.count)]));
}

/** Guest images: `/api/v1/images`; uploads (qcow2, raw, ISO) and deletes through ImageImport. */
export function imageRoutes(knex: Knex, images: ImageImport): Router {
  const router = Router();

  async function imageOfPath(actor: Actor, params: Record<string, string | undefined>) {
    const image = await visibleImages(knex, actor)
      .where({ id: parseIdParam(params, 'imageId') })
      .first();
    if (!image) throw new AppError('NOT_FOUND', 'No such image.');
    return image;
  }

  router.get('/images', async (req, res) => {
    const actor = await actorOf(req, knex);
    const rows = await visibleImages(knex, actor).orderBy('name');
    const counts = await countVmsByImage(
      knex,
      actor,
      rows.map((row) => row.id),
    );
    res.json({ items: rows.map((row) => toImage(row, counts.get(row.id) ?? 0)) });
  });

  router.post('/images', async (req, res) => {
    // Whatever the answer, the connection closes after it: a refused upload's body is never read.
    res.setHeader('Connection', 'close');
    const actor = await actorOf(req, knex);
    const query = parseInput(uploadImageQuerySchema, req.query, 'query');
    if (!req.is('application/octet-stream')) {
      throw new AppError(
        'VALIDATION',
        'Send the image file as the request body with Content-Type: application/octet-stream.',
      );
    }
    const declaredLength = req.get('content-length');
    const row = await images.upload(
      {
        actor,
        query,
        contentLength: declaredLength === undefined ? undefined : Number(declaredLength),
        ip: req.ip,
      },
      req,
    );
    res.status(201).json(toImage(row, 0));
  });

  router.get('/images/:imageId', async (req, res) => {
    const actor = await actorOf(req, knex);
    const image = await imageOfPath(actor, req.params);
    const counts = await countVmsByImage(knex, actor, [image.id]);
    res.json(toImage(image, counts.get(image.id) ?? 0));
  });

  router.delete('/images/:imageId', async (req, res) => {
    const actor = await actorOf(req, knex);
    await images.delete(actor, await imageOfPath(actor, req.params), req.ip);
    res.status(204).end();
  });

  return router;
}
