import { type ConsoleTicket, consoleTicketRequestSchema } from '@labvisor/shared';
import { Router } from 'express';
import type { Knex } from 'knex';
import { requireRole } from '../../domain/auth/access.js';
import type { ConsoleTickets } from '../../domain/consoles/console-tickets.js';
import type { VmService } from '../../domain/vms/vm-service.js';
import { AppError } from '../../errors.js';
import type { ConsolePresence } from '../../ws/console-gateway.js';
import { actorOf } from '../auth/authentication.js';
import { parseIdParam, parseInput } from '../validate.js';

/** States in which a VM has consoles to open. */
const LIVE_STATES = new Set(['running', 'paused']);

/**
 * Console tickets (`POST /api/v1/vms/:vmId/console`) and who is connected now to a tenant's
 * consoles (`GET /api/v1/tenants/:tenantId/consoles`, instructors and admins).
 */
export function consoleRoutes(
  knex: Knex,
  vms: VmService,
  tickets: ConsoleTickets,
  presence: ConsolePresence,
): Router {
  const router = Router();

  router.post('/vms/:vmId/console', async (req, res) => {
    const actor = await actorOf(req, knex);
    const vm = await vms.get(actor, parseIdParam(req.params, 'vmId'));
    const body = parseInput(consoleTicketRequestSchema, req.body);
    if (!LIVE_STATES.has(vm.state)) {
      throw new AppError(
        'INVALID_STATE',
        `VM "${vm.name}" is ${vm.state}; start it to open its console.`,
        { state: vm.state },
      );
    }
    const { ticket, expiresAt } = tickets.issue({
      userId: actor.user.id,
      vmId: vm.id,
      kind: body.kind,
      mode: body.mode,
    });
    const answer: ConsoleTicket = {
      ticket,
      url: `/ws/vms/${vm.id}/${body.kind}?ticket=${encodeURIComponent(ticket)}`,
      expiresAt: expiresAt.toISOString(),
    };
    res.status(201).json(answer);
  });

  router.get('/tenants/:tenantId/consoles', async (req, res) => {
    const actor = await actorOf(req, knex);
    const tenantId = parseIdParam(req.params, 'tenantId');
    requireRole(actor, tenantId, 'instructor');
    const vmIds = new Set((await vms.list(actor, tenantId)).map((vm) => vm.id));
    res.json({ items: presence.connectionsTo(vmIds) });
  });

  return router;
}
