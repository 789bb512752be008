import type { Knex } from 'knex';
import * as createSchema from './migrations/0001_create_schema.js';
import * as addVmCurrentSnapshot from './migrations/0002_add_vm_current_snapshot.js';
import * as createConsoleRecordings from './migrations/0003_create_console_recordings.js';
import * as indexAuditLogByTarget from './migrations/0004_index_audit_log_by_target.js';
import * as createIdempotencyKeys from './migrations/0005_create_idempotency_keys.js';
import * as addUserOidcSubject from './migrations/0006_add_user_oidc_subject.js';
import * as addTemplates from './migrations/0007_add_templates.js';
import * as createPools from './migrations/0008_create_pools.js';
import * as addTenantDefaultImage from './migrations/0009_add_tenant_default_image.js';
import * as createInvites from './migrations/0010_create_invites.js';
import * as addTenantIdleSuspend from './migrations/0011_add_tenant_idle_suspend.js';
import * as createSignInLinks from './migrations/0012_create_sign_in_links.js';
import * as addVmDiskBytes from './migrations/0013_add_vm_disk_bytes.js';
import * as addGuestNetworks from './migrations/0014_add_guest_networks.js';
import * as addNetworkLimits from './migrations/0015_add_network_limits.js';
import * as addContainerImages from './migrations/0016_add_container_images.js';
import * as addUnavailableState from './migrations/0017_add_unavailable_state.js';
import * as addVmInstanceType from './migrations/0018_add_vm_instance_type.js';
import * as addReplicaState from './migrations/0019_add_replica_state.js';
import * as createTenantSchedules from './migrations/0020_create_tenant_schedules.js';
import * as addPoolClassHours from './migrations/0021_add_pool_class_hours.js';
import * as createLtiPlatforms from './migrations/0022_create_lti_platforms.js';
import * as addHomeDisks from './migrations/0023_add_home_disks.js';

/** One forward-only migration. Each runs inside its own transaction. */
export interface Migration {
  name: string;
  up(knex: Knex): Promise<void>;
}

/** Every migration, in order. Append only; never edit one that has shipped. */
export const MIGRATIONS: Migration[] = [
  { name: '0001_create_schema', up: createSchema.up },
  { name: '0002_add_vm_current_snapshot', up: addVmCurrentSnapshot.up },
  { name: '0003_create_console_recordings', up: createConsoleRecordings.up },
  { name: '0004_index_audit_log_by_target', up: indexAuditLogByTarget.up },
  { name: '0005_create_idempotency_keys', up: createIdempotencyKeys.up },
  { name: '0006_add_user_oidc_subject', up: addUserOidcSubject.up },
  { name: '0007_add_templates', up: addTemplates.up },
  { name: '0008_create_pools', up: createPools.up },
  { name: '0009_add_tenant_default_image', up: addTenantDefaultImage.up },
  { name: '0010_create_invites', up: createInvites.up },
  { name: '0011_add_tenant_idle_suspend', up: addTenantIdleSuspend.up },
  { name: '0012_create_sign_in_links', up: createSignInLinks.up },
  { name: '0013_add_vm_disk_bytes', up: addVmDiskBytes.up },
  { name: '0014_add_guest_networks', up: addGuestNetworks.up },
  { name: '0015_add_network_limits', up: addNetworkLimits.up },
  { name: '0016_add_container_images', up: addContainerImages.up },
  { name: '0017_add_unavailable_state', up: addUnavailableState.up },
  { name: '0018_add_vm_instance_type', up: addVmInstanceType.up },
  { name: '0019_add_replica_state', up: addReplicaState.up },
  { name: '0020_create_tenant_schedules', up: createTenantSchedules.up },
  { name: '0021_add_pool_class_hours', up: addPoolClassHours.up },
  { name: '0022_create_lti_platforms', up: createLtiPlatforms.up },
  { name: '0023_add_home_disks', up: addHomeDisks.up },
];

class ListMigrationSource implements Knex.MigrationSource<Migration> {
  constructor(private readonly migrations: Migration[]) {}
  async getMigrations(): Promise<Migration[]> {
    return this.migrations;
  }
  getMigrationName(migration: Migration): string {
    return migration.name;
  }
  async getMigration(migration: Migration): Promise<Knex.Migration> {
    return {
      up: migration.up,
      down: async () => {
        throw new Error('Labvisor migrations are forward-only');
      },
    };
  }
}

/** Brings the schema up to date; returns the names of the migrations that ran. */
export async function migrateToLatest(knex: Knex, migrations = MIGRATIONS): Promise<string[]> {
  const [, applied] = (await knex.migrate.latest({
    migrationSource: new ListMigrationSource(migrations),
    tableName: 'schema_migrations',
  })) as [number, string[]];
  return applied;
}
