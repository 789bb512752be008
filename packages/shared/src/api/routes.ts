import type { VmAction } from '../lifecycle.js';
import { ACCOUNT_ROUTES } from './routes/account-routes.js';
import { ADMIN_ROUTES } from './routes/admin-routes.js';
import { CLASS_TEMPLATE_ROUTES } from './routes/class-template-routes.js';
import { FILE_ROUTES } from './routes/file-routes.js';
import { IMAGE_ROUTES } from './routes/image-routes.js';
import { INVITE_ROUTES } from './routes/invite-routes.js';
import { LTI_ROUTES } from './routes/lti-routes.js';
import { ROSTER_ROUTES } from './routes/roster-routes.js';
import type { RouteSpec } from './routes/route-spec.js';
import { SERVICE_ROUTES } from './routes/service-routes.js';
import { TENANT_ROUTES } from './routes/tenant-routes.js';
import { VM_ROUTES } from './routes/vm-routes.js';

export * from './routes/route-spec.js';

/**
 * Every operation of the HTTP API, by name: the one list the server's router mounts, the OpenAPI
 * document describes and the portal's client is typed by.
 */
export const API_ROUTES = {
  ...SERVICE_ROUTES,
  ...ACCOUNT_ROUTES,
  ...TENANT_ROUTES,
  ...INVITE_ROUTES,
  ...ROSTER_ROUTES,
  ...LTI_ROUTES,
  ...ADMIN_ROUTES,
  ...IMAGE_ROUTES,
  ...VM_ROUTES,
  ...CLASS_TEMPLATE_ROUTES,
  ...FILE_ROUTES,
} as const satisfies Record<string, RouteSpec>;

/** The name of an API operation, e.g. `listVms`. */
export type RouteName = keyof typeof API_ROUTES;

/** The route of each VM lifecycle action. */
export const VM_ACTION_ROUTES = {
  start: API_ROUTES.startVm,
  stop: API_ROUTES.stopVm,
  reboot: API_ROUTES.rebootVm,
  suspend: API_ROUTES.suspendVm,
  resume: API_ROUTES.resumeVm,
} as const satisfies Record<VmAction, RouteSpec>;
