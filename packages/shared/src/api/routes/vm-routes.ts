import { z } from 'zod';
import type { VmAction } from '../../lifecycle.js';
import { consoleTicketRequestSchema, consoleTicketSchema } from '../../ws.js';
import { vmActivityQuerySchema, vmActivitySchema } from '../activity.js';
import { listOf } from '../common.js';
import { recordingSchema } from '../consoles.js';
import { createSnapshotRequestSchema, snapshotSchema } from '../snapshots.js';
import {
  createVmQuerySchema,
  createVmRequestSchema,
  listVmsQuerySchema,
  openVmPortRequestSchema,
  openVmPortResponseSchema,
  updateVmRequestSchema,
  vmSchema,
} from '../vms.js';
import { type RouteSpec, route } from './route-spec.js';

/** The route of one VM lifecycle action (`POST /api/v1/vms/:vmId/start`, …). */
const vmActionRoute = <const A extends VmAction>(action: A) =>
  route({
    method: 'post',
    path: `/api/v1/vms/:vmId/${action}`,
    summary: `${action[0]!.toUpperCase()}${action.slice(1)} a VM; answers its new, often transitional, state`,
    access: 'signed-in',
    response: vmSchema,
    status: 202,
  });

/** VMs, their lifecycle, snapshots, consoles, activity and recordings. */
export const VM_ROUTES = {
  listVms: route({
    method: 'get',
    path: '/api/v1/vms',
    summary: 'VMs the user can see (`?tenantId=` for one tenant)',
    access: 'signed-in',
    query: listVmsQuerySchema,
    response: listOf(vmSchema),
    status: 200,
  }),
  createVm: route({
    method: 'post',
    path: '/api/v1/vms',
    summary:
      'Create and start a VM if the quota admits it (`?dryRun=1` only answers whether it would; an `Idempotency-Key` header makes retries safe)',
    access: 'signed-in',
    query: createVmQuerySchema,
    body: createVmRequestSchema,
    response: vmSchema,
    status: 201,
    otherAnswers: {
      200: {
        description: 'With `?dryRun=1`: the quota would admit it',
        response: z.object({ admitted: z.literal(true) }),
      },
    },
  }),
  getVm: route({
    method: 'get',
    path: '/api/v1/vms/:vmId',
    summary: 'A VM',
    access: 'signed-in',
    response: vmSchema,
    status: 200,
  }),
  updateVm: route({
    method: 'patch',
    path: '/api/v1/vms/:vmId',
    summary: 'Change a stopped VM: its network (the next start uses it)',
    access: 'signed-in',
    body: updateVmRequestSchema,
    response: vmSchema,
    status: 200,
  }),
  openVmPort: route({
    method: 'post',
    path: '/api/v1/vms/:vmId/ports',
    summary:
      "Open a TCP port of a running VM with a network in the browser (a lab's web app): answers a one-minute link to it",
    access: 'signed-in',
    body: openVmPortRequestSchema,
    response: openVmPortResponseSchema,
    status: 200,
  }),
  deleteVm: route({
    method: 'delete',
    path: '/api/v1/vms/:vmId',
    summary: 'Delete a VM and every file it has',
    access: 'signed-in',
    status: 204,
  }),
  startVm: vmActionRoute('start'),
  stopVm: vmActionRoute('stop'),
  rebootVm: vmActionRoute('reboot'),
  suspendVm: vmActionRoute('suspend'),
  resumeVm: vmActionRoute('resume'),
  listSnapshots: route({
    method: 'get',
    path: '/api/v1/vms/:vmId/snapshots',
    summary: "A VM's snapshots, oldest first",
    access: 'signed-in',
    response: listOf(snapshotSchema),
    status: 200,
  }),
  createSnapshot: route({
    method: 'post',
    path: '/api/v1/vms/:vmId/snapshots',
    summary: 'Take a snapshot (with memory: only while running or paused)',
    access: 'signed-in',
    body: createSnapshotRequestSchema,
    response: snapshotSchema,
    status: 201,
  }),
  restoreSnapshot: route({
    method: 'post',
    path: '/api/v1/vms/:vmId/snapshots/:snapshotId/restore',
    summary: 'Restore a snapshot; answers the VM',
    access: 'signed-in',
    response: vmSchema,
    status: 200,
  }),
  deleteSnapshot: route({
    method: 'delete',
    path: '/api/v1/vms/:vmId/snapshots/:snapshotId',
    summary: 'Delete a snapshot',
    access: 'signed-in',
    status: 204,
  }),
  consoleTicket: route({
    method: 'post',
    path: '/api/v1/vms/:vmId/console',
    summary: 'A single-use ticket (about 30 s) to open the serial or VNC console over WebSocket',
    access: 'signed-in',
    body: consoleTicketRequestSchema,
    response: consoleTicketSchema,
    status: 201,
  }),
  vmActivity: route({
    method: 'get',
    path: '/api/v1/vms/:vmId/activity',
    summary:
      "A VM's recent activity, newest first: starts, stops, snapshots, consoles opened (`?limit=`, default 50)",
    access: 'signed-in',
    query: vmActivityQuerySchema,
    response: listOf(vmActivitySchema),
    status: 200,
  }),
  listRecordings: route({
    method: 'get',
    path: '/api/v1/vms/:vmId/recordings',
    summary: "A VM's serial console recordings (instructors and admins of its tenant)",
    access: 'signed-in',
    response: listOf(recordingSchema),
    status: 200,
  }),
  vmEvents: route({
    method: 'get',
    path: '/api/v1/events',
    summary:
      'Server-sent events: `vm` (a VM the user can see, as GET /api/v1/vms/:vmId answers it) on every change, `vm-deleted` (`{id}`); from this server only',
    access: 'signed-in',
    status: 200,
    produces: 'text/event-stream',
  }),
  recordingCast: route({
    method: 'get',
    path: '/api/v1/recordings/:recordingId/cast',
    summary: 'A recording as an asciicast v2 file',
    access: 'signed-in',
    status: 200,
    produces: 'application/x-asciicast',
  }),
} as const satisfies Record<string, RouteSpec>;
