import type { Knex } from 'knex';
import type { ImageRow } from '../../db/queries/images.js';
import { findCourseLab, setCourseLab } from '../../db/queries/lti.js';
import { findTenantById } from '../../db/queries/tenants.js';
import { AppError } from '../../errors.js';
import type { Actor } from '../auth/access.js';
import type { VmService } from '../vms/vm-service.js';

/**
 * The launching member's lab for a course: the one an earlier launch made (started if it is
 * stopped; a suspended one resumes when its console opens), else a new one from the tenant's
 * default image at that image's default size, within the member's quota like any launch.
 * Answers the VM's id.
 */
export async function openCourseLab(
  knex: Knex,
  vms: VmService,
  actor: Actor,
  course: { platformId: string; tenantId: string; id: string; label: string },
  ip: string | undefined,
): Promise<string> {
  const key = { platformId: course.platformId, contextId: course.id, userId: actor.user.id };
  const existing = await findCourseLab(knex, key);
  if (existing) {
    const vm = await vms.get(actor, existing);
    if (vm.state === 'stopped') await vms.act(actor, vm.id, 'start', ip);
    return vm.id;
  }
  const tenant = await findTenantById(knex, course.tenantId);
  const image = tenant?.default_image_id
    ? await knex<ImageRow>('images').where({ id: tenant.default_image_id }).first()
    : undefined;
  if (!tenant || !image) {
    throw new AppError(
      'CONFLICT',
      `The class "${tenant?.name ?? ''}" has no default image to make your lab from; ask its instructor to choose one.`,
    );
  }
  const create = async (name: string) =>
    (await vms.create(
      actor,
      {
        tenantId: tenant.id,
        name,
        imageId: image.id,
        vcpus: image.default_vcpus,
        memoryMib: image.default_memory_mib,
        diskGib: image.default_disk_gib,
      },
      { dryRun: false, ip },
    ))!;
  const name = labNameOf(actor.user.email, course.label);
  let vm: Awaited<ReturnType<typeof create>>;
  try {
    vm = await create(name);
  } catch (error) {
    // Another lab of the class has the name: the person's id makes it theirs.
    if (!(error instanceof AppError && error.code === 'CONFLICT')) throw error;
    vm = await create(`${name.slice(0, 57)}-${actor.user.id.slice(0, 6)}`);
  }
  await setCourseLab(knex, key, vm.id);
  return vm.id;
}

/** A VM name from the person's email and the course's label: letters, digits, "-", "." and "_". */
function labNameOf(email: string, courseLabel: string): string {
  const clean = (text: string) =>
    text
      .replace(/[^A-Za-z0-9._-]+/g, '-')
      .replace(/^[^A-Za-z0-9]+/, '')
      .replace(/-+$/, '');
  const person = clean(email.split('@')[0]!).slice(0, 30) || 'student';
  return `${person}-${clean(courseLabel).slice(0, 24) || 'lab'}`;
}
