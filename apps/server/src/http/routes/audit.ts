import type { Knex } from 'knex';
import { listAuditEntries } from '../../db/queries/audit.js';
import { requirePlatformAdmin, requireRole } from '../../domain/auth/access.js';
import type { Handlers } from '../router.js';

/** The audit log, newest first: platform admins see everything, tenant admins their tenant's. */
export function auditHandlers(knex: Knex): Handlers<'audit'> {
  return {
    audit: async ({ query }, { actor }) => {
      if (query.tenantId) requireRole(actor, query.tenantId, 'admin');
      else requirePlatformAdmin(actor);
      return { items: await listAuditEntries(knex, query) };
    },
  };
}
