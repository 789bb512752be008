import path from 'node:path';
import type { Engine } from '@labvisor/engine';
import type { Knex } from 'knex';
import { recordAudit } from '../../db/queries/audit.js';
import { memberLabsQuery, type VmRow } from '../../db/queries/vms.js';
import { AppError } from '../../errors.js';
import { type Actor, requireRole } from '../auth/access.js';
import { type TarEntry, tarArchive } from './tar-archive.js';
import type { VmService } from './vm-service.js';

/** A lab a handout reached or not. */
export interface HandoutResult {
  delivered: VmRow[];
  refused: Array<{ vm: VmRow; reason: string }>;
}

/**
 * Files in and out of labs through their guest agent (never the guest's network): whoever may
 * use a lab reads and writes its files; a class's instructors hand a file out to every member's
 * running lab and collect one path from all of them as a tar archive. Each is audited.
 */
export class LabFiles {
  constructor(
    private readonly knex: Knex,
    private readonly vms: VmService,
    private readonly engine: Pick<Engine, 'readGuestFile' | 'writeGuestFile'>,
  ) {}

  /** A file of a running lab the actor may use. */
  async read(actor: Actor, vmId: string, guestPath: string, ip?: string): Promise<Buffer> {
    const vm = await this.vms.get(actor, vmId);
    assertRunning(vm);
    const bytes = await this.engine.readGuestFile(vm.id, guestPath);
    await this.#audit(actor, vm, 'vm.file.read', guestPath, bytes.length, ip);
    return bytes;
  }

  /** Writes a file into a running lab the actor may use. */
  async write(actor: Actor, vmId: string, guestPath: string, bytes: Buffer, ip?: string) {
    const vm = await this.vms.get(actor, vmId);
    assertRunning(vm);
    await this.engine.writeGuestFile(vm.id, guestPath, bytes);
    await this.#audit(actor, vm, 'vm.file.write', guestPath, bytes.length, ip);
  }

  /** Writes the file into every member's running lab of the class; says which it could not. */
  async handout(
    actor: Actor,
    tenantId: string,
    guestPath: string,
    bytes: Buffer,
    ip?: string,
  ): Promise<HandoutResult> {
    requireRole(actor, tenantId, 'instructor');
    const result: HandoutResult = { delivered: [], refused: [] };
    for (const vm of await memberLabsQuery(this.knex, tenantId)) {
      try {
        assertRunning(vm);
        await this.engine.writeGuestFile(vm.id, guestPath, bytes);
        result.delivered.push(vm);
      } catch (error) {
        result.refused.push({ vm, reason: (error as Error).message });
      }
    }
    await recordAudit(this.knex, {
      actorId: actor.user.id,
      tenantId,
      action: 'tenant.handout',
      targetType: 'tenant',
      targetId: tenantId,
      ip,
      details: { path: guestPath, bytes: bytes.length, delivered: result.delivered.length },
    });
    return result;
  }

  /**
   * The file at `guestPath` from every member's running lab, as `<owner email>/<lab>/<file name>`
   * in a tar archive, with `MISSING.txt` saying, a line per lab, why one had nothing to give.
   */
  async collect(actor: Actor, tenantId: string, guestPath: string, ip?: string): Promise<Buffer> {
    requireRole(actor, tenantId, 'instructor');
    const labs = await memberLabsQuery(this.knex, tenantId)
      .join('users', 'users.id', 'vms.owner_id')
      .select<Array<VmRow & { email: string }>>('vms.*', 'users.email');
    const entries: TarEntry[] = [];
    const missing: string[] = [];
    for (const vm of labs) {
      try {
        assertRunning(vm);
        const bytes = await this.engine.readGuestFile(vm.id, guestPath);
        entries.push({ name: `${vm.email}/${vm.name}/${path.posix.basename(guestPath)}`, bytes });
      } catch (error) {
        missing.push(`${vm.email} (${vm.name}): ${(error as Error).message}`);
      }
    }
    if (missing.length > 0)
      entries.push({ name: 'MISSING.txt', bytes: Buffer.from(`${missing.join('\n')}\n`) });
    await recordAudit(this.knex, {
      actorId: actor.user.id,
      tenantId,
      action: 'tenant.collect',
      targetType: 'tenant',
      targetId: tenantId,
      ip,
      details: { path: guestPath, collected: entries.length - (missing.length > 0 ? 1 : 0) },
    });
    return tarArchive(entries);
  }

  async #audit(
    actor: Actor,
    vm: VmRow,
    action: string,
    guestPath: string,
    bytes: number,
    ip?: string,
  ): Promise<void> {
    await recordAudit(this.knex, {
      actorId: actor.user.id,
      tenantId: vm.tenant_id,
      action,
      targetType: 'vm',
      targetId: vm.id,
      ip,
      details: { path: guestPath, bytes },
    });
    await this.vms.announceActivity(vm.id);
  }
}

/** Files move only in and out of a running lab (its agent answers only then). */
function assertRunning(vm: VmRow): void {
  if (vm.state !== 'running') {
    throw new AppError(
      'INVALID_STATE',
      `Lab "${vm.name}" is ${vm.state}: files move in and out of a running lab only.`,
      { state: vm.state },
    );
  }
}
