import fs from 'node:fs';
import { LIVE_STATES, type VmState } from '@labvisor/shared';
import type { Knex } from 'knex';
import { findRecordingById, listRecordingsOfVm, toRecording } from '../../db/queries/recordings.js';
import { requireRole } from '../../domain/auth/access.js';
import type { ConsoleConnections } from '../../domain/consoles/console-connections.js';
import type { ConsoleTickets } from '../../domain/consoles/console-tickets.js';
import type { VmService } from '../../domain/vms/vm-service.js';
import { AppError } from '../../errors.js';
import { ANSWERED, type Handlers } from '../router.js';

/** States in which a console ticket is issued: live, or on the way up (the socket waits). */
const CONSOLE_STATES: readonly VmState[] = [...LIVE_STATES, 'starting'];

/**
 * Console tickets, who is connected now to a tenant's consoles, and serial console recordings
 * (instructors and admins of the tenant).
 */
export function consoleHandlers(deps: {
  knex: Knex;
  vms: VmService;
  tickets: ConsoleTickets;
  connections: ConsoleConnections;
}): Handlers<'consoleTicket' | 'tenantConsoles' | 'listRecordings' | 'recordingCast'> {
  const { knex, vms } = deps;
  return {
    consoleTicket: async ({ params, body }, { actor, ip }) => {
      let vm = await vms.get(actor, params.vmId);
      // A suspended VM resumes where it was (whatever suspended it); the socket waits for it.
      if (vm.state === 'suspended') vm = await vms.act(actor, vm.id, 'resume', ip);
      if (!CONSOLE_STATES.includes(vm.state)) {
        throw new AppError(
          'INVALID_STATE',
          `VM "${vm.name}" is ${vm.state}; start it to open its console.`,
          { state: vm.state },
        );
      }
      const { ticket, expiresAt } = await deps.tickets.issue({
        userId: actor.user.id,
        vmId: vm.id,
        kind: body.kind,
        mode: body.mode,
      });
      return {
        ticket,
        url: `/ws/vms/${vm.id}/${body.kind}?ticket=${encodeURIComponent(ticket)}`,
        expiresAt: expiresAt.toISOString(),
      };
    },
    tenantConsoles: async ({ params }, { actor }) => {
      requireRole(actor, params.tenantId, 'instructor');
      const vmIds = (await vms.list(actor, params.tenantId)).map((vm) => vm.id);
      return { items: await deps.connections.to(vmIds) };
    },
    listRecordings: async ({ params }, { actor }) => {
      const vm = await vms.get(actor, params.vmId);
      requireRole(actor, vm.tenant_id, 'instructor');
      return { items: (await listRecordingsOfVm(knex, vm.id)).map(toRecording) };
    },
    recordingCast: async ({ params }, { res, actor }) => {
      const row = await findRecordingById(knex, params.recordingId);
      if (!row) throw new AppError('NOT_FOUND', 'No such recording.');
      try {
        requireRole(actor, row.tenant_id, 'instructor');
      } catch (error) {
        throw (error as AppError).code === 'NOT_FOUND'
          ? new AppError('NOT_FOUND', 'No such recording.')
          : error;
      }
      res.type('application/x-asciicast');
      res.setHeader('Content-Disposition', `attachment; filename="${row.vm_name}-${row.id}.cast"`);
      fs.createReadStream(row.path)
        .on('error', () => res.destroy())
        .pipe(res);
      return ANSWERED;
    },
  };
}
