import fs from 'node:fs/promises';
import path from 'node:path';
import type { HomeDisk } from '@labvisor/engine';
import type { Knex } from 'knex';
import type { TenantRow } from '../../db/queries/tenants.js';
import type { VmRow } from '../../db/queries/vms.js';

/**
 * Members' persistent home disks: one per member of a tenant whose `home_disk_gib` is set, a file
 * at `<homesDir>/<tenantId>/<userId>.img` that the engine makes at its first attach, recorded in
 * `home_disks` (so it counts in the tenant's diskGib) and deleted with the member or the tenant.
 */
export class HomeDisks {
  constructor(
    private readonly knex: Knex,
    private readonly homesDir: string,
  ) {}

  /** Whether a tenant gives its members homes. */
  static enabled(tenant: Pick<TenantRow, 'home_disk_gib'>): boolean {
    return tenant.home_disk_gib > 0;
  }

  /** Whether the member has a home in the tenant already (else a create makes one). */
  async exists(tenantId: string, userId: string): Promise<boolean> {
    return (
      (await this.knex('home_disks')
        .where({ tenant_id: tenantId, user_id: userId })
        .first('size_gib')) !== undefined
    );
  }

  /**
   * The home disk a VM's owner has in its tenant, recorded first if it is new; undefined when the
   * tenant gives no homes (or the VM has no owner: a warm pool's).
   */
  async attach(
    vm: Pick<VmRow, 'tenant_id' | 'owner_id'>,
    tenant: TenantRow,
  ): Promise<HomeDisk | undefined> {
    if (!HomeDisks.enabled(tenant) || !vm.owner_id) return undefined;
    await this.knex('home_disks')
      .insert({ tenant_id: vm.tenant_id, user_id: vm.owner_id, size_gib: tenant.home_disk_gib })
      .onConflict(['tenant_id', 'user_id'])
      .ignore();
    const row = await this.knex('home_disks')
      .where({ tenant_id: vm.tenant_id, user_id: vm.owner_id })
      .first<{ size_gib: number }>('size_gib');
    return { path: this.#pathOf(vm.tenant_id, vm.owner_id), sizeGib: row!.size_gib };
  }

  /** Deletes a member's home (its row and its file). */
  async remove(tenantId: string, userId: string): Promise<void> {
    await this.knex('home_disks').where({ tenant_id: tenantId, user_id: userId }).delete();
    await fs.rm(this.#pathOf(tenantId, userId), { force: true });
  }

  /** Deletes every home of a tenant's members (the rows go with the tenant). */
  async removeTenant(tenantId: string): Promise<void> {
    await fs.rm(path.join(this.homesDir, tenantId), { recursive: true, force: true });
  }

  #pathOf(tenantId: string, userId: string): string {
    return path.join(this.homesDir, tenantId, `${userId}.img`);
  }
}
