import os from 'node:os';
import { EngineError } from './errors.js';

/** Host resources in the engine's units. */
export interface HostResources {
  memoryMib: number;
  vcpus: number;
}

/** Overcommit ratios: how many times the host's memory and vCPUs may be handed out. */
export interface OvercommitRatios {
  memory: number;
  vcpus: number;
}

/** What {@link Engine.capacity} reports. */
export interface CapacityReport {
  host: HostResources;
  allocatable: HostResources;
  used: HostResources & { vms: number };
}

/** Default overcommit: memory is never overcommitted (a guest that is OOM-killed is a crash), vCPUs 4×. */
export const DEFAULT_OVERCOMMIT: OvercommitRatios = { memory: 1.0, vcpus: 4.0 };

const BYTES_PER_MIB = 1024 * 1024;

/** This machine's memory and logical CPUs, from node:os. */
export function detectHostResources(): HostResources {
  return {
    memoryMib: Math.floor(os.totalmem() / BYTES_PER_MIB),
    vcpus: os.availableParallelism?.() ?? os.cpus().length,
  };
}

/** What may be handed out: host × overcommit, rounded down. */
export function computeAllocatable(host: HostResources, ratios: OvercommitRatios): HostResources {
  return {
    memoryMib: Math.floor(host.memoryMib * ratios.memory),
    vcpus: Math.floor(host.vcpus * ratios.vcpus),
  };
}

/** Sums the resources of the VMs that hold host resources. */
export function sumUsage(vms: ReadonlyArray<HostResources>): HostResources & { vms: number } {
  let memoryMib = 0;
  let vcpus = 0;
  for (const vm of vms) {
    memoryMib += vm.memoryMib;
    vcpus += vm.vcpus;
  }
  return { memoryMib, vcpus, vms: vms.length };
}

/** Builds a capacity report from host, ratios and the resource-holding VMs. */
export function computeCapacity(
  host: HostResources,
  ratios: OvercommitRatios,
  holding: ReadonlyArray<HostResources>,
): CapacityReport {
  return { host, allocatable: computeAllocatable(host, ratios), used: sumUsage(holding) };
}

/**
 * Throws CAPACITY_EXCEEDED `{resource, limit, used, requested}` when starting a VM of `request`
 * size would take used resources beyond what is allocatable. Memory is checked first.
 */
export function assertCapacity(vmId: string, report: CapacityReport, request: HostResources): void {
  const checks = [
    { resource: 'memoryMib', unit: 'MiB of memory', requested: request.memoryMib },
    { resource: 'vcpus', unit: 'vCPUs', requested: request.vcpus },
  ] as const;
  for (const check of checks) {
    const limit = report.allocatable[check.resource];
    const used = report.used[check.resource];
    if (used + check.requested > limit) {
      throw new EngineError(
        'CAPACITY_EXCEEDED',
        `Cannot start VM "${vmId}": it needs ${check.requested} ${check.unit} and the host has ${Math.max(0, limit - used)} of ${limit} left`,
        { resource: check.resource, limit, used, requested: check.requested },
      );
    }
  }
}
