import { Router } from 'express';
import type { Knex } from 'knex';
import { type ImageRow, toImage } from '../../db/queries/images.js';
import type { Actor } from '../../domain/access.js';
import { actorOf } from '../auth/authentication.js';
import { AppError } from '../errors.js';
import { parseIdParam } from '../validate.js';

/** Images visible to an actor: global ones and those of their tenants. */
function visibleImages(knex: Knex, actor: Actor): Knex.QueryBuilder<ImageRow, ImageRow[]> {
  const query = knex<ImageRow>('images');
  if (actor.user.is_platform_admin) return query;
  return query.where((q) =>
    q.whereNull('tenant_id').orWhereIn('tenant_id', [...actor.roles.keys()]),
  );
}

/** Guest images: `/api/v1/images`. Upload and delete come with image import. */
export function imageRoutes(knex: Knex): Router {
  const router = Router();

  router.get('/images', async (req, res) => {
    const actor = await actorOf(req, knex);
    res.json({ items: (await visibleImages(knex, actor).orderBy('name')).map(toImage) });
  });

  router.get('/images/:imageId', async (req, res) => {
    const actor = await actorOf(req, knex);
    const image = await visibleImages(knex, actor)
      .where({ id: parseIdParam(req.params, 'imageId') })
      .first();
    if (!image) throw new AppError('NOT_FOUND', 'No such image.');
    res.json(toImage(image));
  });

  return router;
}
