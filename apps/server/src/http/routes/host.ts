import type { Knex } from 'knex';
import type { EngineStatusSource } from '../../app.js';
import { recordAudit } from '../../db/queries/audit.js';
import { countVmsByState } from '../../db/queries/vms.js';
import { type Actor, requirePlatformAdmin } from '../../domain/auth/access.js';
import type { BackgroundImageBuilds } from '../../domain/images/image-builds.js';
import type { Handlers } from '../router.js';

/**
 * This host's capacity, its VMs by state, its background image builds and, on a cluster, its
 * members with evacuate and restore (platform admins only): `/api/v1/host`.
 */
export function hostHandlers(
  knex: Knex,
  engine: EngineStatusSource,
  imageBuilds: Pick<BackgroundImageBuilds, 'status'>,
): Handlers<'host' | 'evacuateMember' | 'restoreMember'> {
  const changeMember = async (
    member: string,
    action: 'evacuate' | 'restore',
    context: { actor: Actor; ip: string | undefined },
  ) => {
    requirePlatformAdmin(context.actor);
    await engine.setMemberState(member, action);
    await recordAudit(knex, {
      actorId: context.actor.user.id,
      action: `host.${action}`,
      targetType: 'member',
      ip: context.ip,
      details: { member },
    });
    return engine.members().find((each) => each.name === member)!;
  };
  return {
    evacuateMember: ({ body }, context) => changeMember(body.member, 'evacuate', context),
    restoreMember: ({ body }, context) => changeMember(body.member, 'restore', context),
    host: async (_input, { actor }) => {
      requirePlatformAdmin(actor);
      const capacity = engine.capacity();
      const info = engine.info();
      return {
        host: { vcpus: capacity.host.vcpus, memoryMib: capacity.host.memoryMib },
        allocatable: capacity.allocatable,
        used: capacity.used,
        vmsByState: await countVmsByState(knex),
        driver: info.name,
        driverVersion: info.version,
        details: info.details,
        ...(info.error ? { engineError: info.error } : {}),
        imageBuilds: imageBuilds.status(),
        members: engine.members(),
      };
    },
  };
}
