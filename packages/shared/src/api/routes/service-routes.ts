import { z } from 'zod';
import { readinessSchema } from '../health.js';
import { type RouteSpec, route } from './route-spec.js';

/** The service's own endpoints: health, readiness, metrics and the OpenAPI document. */
export const SERVICE_ROUTES = {
  healthz: route({
    method: 'get',
    path: '/healthz',
    summary: 'The process is up',
    access: 'public',
    response: z.object({ ok: z.literal(true) }),
    status: 200,
  }),
  readyz: route({
    method: 'get',
    path: '/readyz',
    summary: 'Database and engine usable; names the accelerator and QEMU version',
    access: 'public',
    response: readinessSchema,
    status: 200,
    otherAnswers: { 503: { description: 'Not ready: what is not', response: readinessSchema } },
  }),
  metrics: route({
    method: 'get',
    path: '/metrics',
    summary:
      'Prometheus metrics (with LABVISOR_METRICS_TOKEN set: `Authorization: Bearer <token>`)',
    access: 'public',
    status: 200,
    produces: 'text/plain',
  }),
  openApi: route({
    method: 'get',
    path: '/api/v1/openapi.json',
    summary: 'This document',
    access: 'public',
    status: 200,
    produces: 'application/json',
  }),
} as const satisfies Record<string, RouteSpec>;
