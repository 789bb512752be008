import type { LtiPlatform } from '@labvisor/shared';
import type { Knex } from 'knex';

/** An lti_platforms row: a learning platform a tenant registered. */
export interface LtiPlatformRow {
  id: string;
  tenant_id: string;
  issuer: string;
  client_id: string;
  deployment_id: string;
  authorization_url: string;
  key_set_url: string;
  created_at: Date;
}

/** The API view of a registration. */
export function toLtiPlatform(row: LtiPlatformRow): LtiPlatform {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    issuer: row.issuer,
    clientId: row.client_id,
    deploymentId: row.deployment_id,
    authorizationUrl: row.authorization_url,
    keySetUrl: row.key_set_url,
    createdAt: new Date(row.created_at).toISOString(),
  };
}

/** A launch under way: what the login initiation promised, until the platform posts back. */
export interface LtiLaunchStateRow {
  state_hash: string;
  issuer: string;
  client_id: string;
  nonce: string;
  expires_at: Date;
}

/** Takes a launch state (single use): deleted as it is read; undefined if unknown or expired. */
export async function takeLaunchState(
  knex: Knex,
  stateHash: string,
): Promise<LtiLaunchStateRow | undefined> {
  const [row] = await knex<LtiLaunchStateRow>('lti_launch_states')
    .where({ state_hash: stateHash })
    .del()
    .returning('*');
  return row && new Date(row.expires_at) > new Date() ? row : undefined;
}

/** The Labvisor account of a platform's person, if a launch made or bound one. */
export async function findLtiAccountUser(
  knex: Knex,
  platformId: string,
  subject: string,
): Promise<string | undefined> {
  const row = await knex('lti_accounts')
    .where({ platform_id: platformId, subject })
    .first<{ user_id: string } | undefined>('user_id');
  return row?.user_id;
}

/** A person's lab for a course of a platform, if one was made and still exists. */
export async function findCourseLab(
  knex: Knex,
  key: { platformId: string; contextId: string; userId: string },
): Promise<string | undefined> {
  const row = await knex('lti_course_labs')
    .where({ platform_id: key.platformId, context_id: key.contextId, user_id: key.userId })
    .first<{ vm_id: string } | undefined>('vm_id');
  return row?.vm_id;
}

/** Records (or replaces) a person's lab for a course. */
export async function setCourseLab(
  knex: Knex,
  key: { platformId: string; contextId: string; userId: string },
  vmId: string,
): Promise<void> {
  await knex('lti_course_labs')
    .insert({
      platform_id: key.platformId,
      context_id: key.contextId,
      user_id: key.userId,
      vm_id: vmId,
    })
    .onConflict(['platform_id', 'context_id', 'user_id'])
    .merge({ vm_id: vmId });
}
