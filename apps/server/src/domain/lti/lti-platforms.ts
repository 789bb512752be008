import type { CreateLtiPlatformRequest } from '@labvisor/shared';
import type { Knex } from 'knex';
import { isUniqueViolation } from '../../db/errors.js';
import { recordAudit } from '../../db/queries/audit.js';
import type { LtiPlatformRow } from '../../db/queries/lti.js';
import { AppError } from '../../errors.js';
import { type Actor, requireRole } from '../auth/access.js';

/** Most learning platforms a tenant may register. */
export const MAX_LTI_PLATFORMS = 20;

/**
 * A tenant's learning platforms (LTI 1.3): its admins register them, and each registration's
 * launches sign people into that tenant only. One registration per issuer, client id and
 * deployment id across the server, so a launch names exactly one tenant.
 */
export class LtiPlatformService {
  constructor(private readonly knex: Knex) {}

  async list(actor: Actor, tenantId: string): Promise<LtiPlatformRow[]> {
    requireRole(actor, tenantId, 'admin');
    return this.knex<LtiPlatformRow>('lti_platforms')
      .where({ tenant_id: tenantId })
      .orderBy('created_at');
  }

  async create(
    actor: Actor,
    tenantId: string,
    body: CreateLtiPlatformRequest,
    ip: string | undefined,
  ): Promise<LtiPlatformRow> {
    requireRole(actor, tenantId, 'admin');
    try {
      return await this.knex.transaction(async (trx) => {
        if (!(await trx('tenants').where({ id: tenantId }).forUpdate().first('id')))
          throw new AppError('NOT_FOUND', 'No such tenant.');
        const count = await trx('lti_platforms')
          .where({ tenant_id: tenantId })
          .first<{ count: string }>(trx.raw('count(*) as count'));
        if (Number(count?.count ?? 0) >= MAX_LTI_PLATFORMS) {
          throw new AppError(
            'QUOTA_EXCEEDED',
            `A tenant may register ${MAX_LTI_PLATFORMS} learning platforms; remove one first.`,
            { resource: 'ltiPlatforms', limit: MAX_LTI_PLATFORMS, used: Number(count?.count) },
          );
        }
        const [row] = await trx<LtiPlatformRow>('lti_platforms')
          .insert({
            tenant_id: tenantId,
            issuer: body.issuer,
            client_id: body.clientId,
            deployment_id: body.deploymentId,
            authorization_url: body.authorizationUrl,
            key_set_url: body.keySetUrl,
          })
          .returning('*');
        await recordAudit(trx, {
          actorId: actor.user.id,
          tenantId,
          action: 'lti-platform.create',
          targetType: 'lti-platform',
          targetId: row!.id,
          ip,
          details: { issuer: body.issuer, clientId: body.clientId },
        });
        return row!;
      });
    } catch (error) {
      if (isUniqueViolation(error)) {
        throw new AppError(
          'CONFLICT',
          'This platform, client id and deployment id are registered already (here or by another tenant).',
        );
      }
      throw error;
    }
  }

  async delete(
    actor: Actor,
    tenantId: string,
    platformId: string,
    ip: string | undefined,
  ): Promise<void> {
    requireRole(actor, tenantId, 'admin');
    const deleted = await this.knex('lti_platforms')
      .where({ id: platformId, tenant_id: tenantId })
      .del();
    if (deleted === 0) throw new AppError('NOT_FOUND', 'No such learning platform.');
    await recordAudit(this.knex, {
      actorId: actor.user.id,
      tenantId,
      action: 'lti-platform.delete',
      targetType: 'lti-platform',
      targetId: platformId,
      ip,
    });
  }
}
