import { VM_STATES } from '@labvisor/shared';
import type { RequestHandler } from 'express';
import type { Knex } from 'knex';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** The server's Prometheus metrics, in one registry (no global state, so tests can build several). */
export class Metrics {
  readonly registry = new Registry();
  readonly httpDuration = new Histogram({
    name: 'labvisor_http_request_duration_seconds',
    help: 'HTTP request latency by method, route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly admissionRefusals = new Counter({
    name: 'labvisor_admission_refusals_total',
    help: 'Creates and starts refused by quota or host capacity, by resource',
    labelNames: ['resource'] as const,
    registers: [this.registry],
  });

  constructor(
    knex: Knex,
    openConsoles: () => number,
    networkCounters: () => Promise<Map<string, { in: number; out: number }>> = async () =>
      new Map(),
  ) {
    collectDefaultMetrics({ register: this.registry, prefix: 'labvisor_' });
    new Gauge({
      name: 'labvisor_vms',
      help: 'VMs by state',
      labelNames: ['state'] as const,
      registers: [this.registry],
      async collect() {
        const rows = await knex('vms')
          .groupBy('state')
          .select<{ state: string; count: string }[]>('state', knex.raw('count(*) as count'));
        for (const state of VM_STATES)
          this.set({ state }, Number(rows.find((row) => row.state === state)?.count ?? 0));
      },
    });
    new Gauge({
      name: 'labvisor_vm_network_bytes',
      help: "Bytes each VM's guest received (in) and sent (out) on its network since its last start",
      labelNames: ['vm_id', 'direction'] as const,
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const [vmId, bytes] of await networkCounters()) {
          this.set({ vm_id: vmId, direction: 'in' }, bytes.in);
          this.set({ vm_id: vmId, direction: 'out' }, bytes.out);
        }
      },
    });
    new Gauge({
      name: 'labvisor_console_sockets',
      help: 'Open console WebSockets',
      registers: [this.registry],
      collect() {
        this.set(openConsoles());
      },
    });
  }

  /** Times every request, labelled by its route pattern (never by raw path, which holds ids). */
  readonly timeRequests: RequestHandler = (req, res, next) => {
    const end = this.httpDuration.startTimer();
    res.on('finish', () => {
      const route = req.route?.path
        ? `${req.baseUrl}${req.route.path}`
        : req.baseUrl.startsWith('/api')
          ? 'unmatched'
          : 'portal';
      end({ method: req.method, route, status: String(res.statusCode) });
    });
    next();
  };

  /** The metrics in Prometheus's text format, with its content type. */
  async exposition(): Promise<{ contentType: string; text: string }> {
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }
}
