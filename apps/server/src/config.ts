import fs from 'node:fs';
import path from 'node:path';
import type { DriverConfig } from '@labvisor/engine';
import type { NetworkMode } from '@labvisor/shared';
import { z } from 'zod';
import { parseJoinRules, type SsoProvisioning } from './domain/auth/sso-provisioning.js';
import {
  DEFAULT_MAX_UPLOAD_BYTES,
  DEFAULT_MAX_VIRTUAL_BYTES,
} from './domain/images/image-import.js';

const DEFAULT_PORT = 3000;

const postgresUrlSchema = z.string().refine((value) => {
  try {
    const url = new URL(value);
    return (url.protocol === 'postgres:' || url.protocol === 'postgresql:') && url.hostname !== '';
  } catch {
    return false;
  }
}, 'must be a postgres:// or postgresql:// URL with a host, such as postgres://user:pass@localhost:5432/labvisor');

const envSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(DEFAULT_PORT),
  HOST: z.string().min(1).default('0.0.0.0'),
  LABVISOR_DATA_DIR: z.string().min(1).default('./.data'),
  LABVISOR_CACHE_DIR: z.string().min(1).optional(),
  DATABASE_URL: z
    .string()
    .optional()
    .transform((value) => (value === '' ? undefined : value))
    .pipe(postgresUrlSchema.optional()),
  LABVISOR_DRIVER: z.enum(['qemu', 'incus']).default('qemu'),
  LABVISOR_INCUS_ADDRESSES: z
    .string()
    .regex(
      /^[A-Za-z0-9.-]+:\d{1,5}(,[A-Za-z0-9.-]+:\d{1,5})*$/,
      'must be host:port addresses of the cluster members, separated by commas',
    )
    .optional(),
  LABVISOR_INCUS_CLIENT_CERT: z.string().min(1).optional(),
  LABVISOR_INCUS_CLIENT_KEY: z.string().min(1).optional(),
  LABVISOR_INCUS_SERVER_CERT: z.string().min(1).optional(),
  LABVISOR_ACCEL: z.enum(['auto', 'kvm', 'tcg']).default('auto'),
  LABVISOR_QEMU_USER: z
    .string()
    .regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'must be an account name (a-z, 0-9, _ and -)')
    .optional(),
  LABVISOR_TEMPLATES: z.enum(['on', 'off']).default('on'),
  LABVISOR_NETWORK_MODES: z
    .string()
    .regex(
      /^(none|internet|class)(,(none|internet|class))*$/,
      'must be network modes (none, internet, class) separated by commas',
    )
    .default('none,internet,class'),
  LABVISOR_NETWORK_NAMESPACE: z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,30}$/, 'must be a network namespace name (a-z, 0-9, -)')
    .default('labvisor'),
  LABVISOR_NETWORK_UPLINK_NAMESPACE: z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,30}$/, 'must be a network namespace name (a-z, 0-9, -)')
    .optional(),
  LABVISOR_PORTS_DOMAIN: z
    .string()
    .regex(
      /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/,
      'must be a domain name',
    )
    .default('localhost'),
  LABVISOR_NETWORK_DNS: z
    .string()
    .regex(
      /^(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})(,\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})*$/,
      'must be IPv4 addresses separated by commas',
    )
    .optional(),
  LABVISOR_BUILD_IMAGES: z
    .string()
    .regex(
      /^([a-z0-9][a-z0-9-]*(,[a-z0-9][a-z0-9-]*)*)?$/,
      'must be image names separated by commas',
    )
    .default(''),
  LABVISOR_IMAGE_MAX_UPLOAD_MIB: z.coerce.number().int().min(1).optional(),
  LABVISOR_MIN_FREE_DISK_MIB: z.coerce.number().int().min(0).default(1024),
  LABVISOR_VCPU_OVERCOMMIT: z.coerce.number().positive().max(64).default(4),
  LABVISOR_IMAGE_MAX_VIRTUAL_GIB: z.coerce.number().int().min(1).optional(),
  LABVISOR_ADMIN_EMAIL: z.email().optional(),
  LABVISOR_ADMIN_PASSWORD: z.string().min(8, 'must be at least 8 characters').optional(),
  SESSION_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  LABVISOR_PUBLIC_URL: z.url().optional(),
  OIDC_ISSUER: z.url().optional(),
  OIDC_CLIENT_ID: z.string().min(1).optional(),
  OIDC_CLIENT_SECRET: z.string().min(1).optional(),
  OIDC_CREATE_ACCOUNTS: z.enum(['on', 'off']).default('off'),
  OIDC_JOIN_RULES: z.string().default(''),
  LABVISOR_TRUST_PROXY: z
    .string()
    .regex(
      /^(none|\d{1,2}|[\w.:/]+(\s*,\s*[\w.:/]+)*)$/,
      'must be none, a number of proxy hops, or a comma-separated list of addresses, ranges, loopback, linklocal or uniquelocal',
    )
    .default('loopback'),
  LABVISOR_METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  NODE_ENV: z.enum(['development', 'production', 'test']).default('production'),
});

/** The server's configuration, read once from the environment at start. */
export interface Config {
  port: number;
  host: string;
  /** Absolute path of the data directory: embedded database, VM run directories, secrets. */
  dataDir: string;
  /** Where built guest images are cached, outside the checkout. */
  imageCacheDir: string;
  /** Image recipes (infra/images/<name>) the server builds in the background after it serves. */
  backgroundImageBuilds: string[];
  /** A Postgres server's URL, or undefined for the embedded PGlite database. */
  databaseUrl: string | undefined;
  /**
   * The engine's driver (`LABVISOR_DRIVER`): QEMU on this host, with `LABVISOR_ACCEL`, or an Incus
   * cluster (`LABVISOR_INCUS_*`).
   */
  driver: DriverConfig;
  /** The network modes VMs may have (`LABVISOR_NETWORK_MODES`; `none` always). */
  networkModes: NetworkMode[];
  /** Labs' web apps are served on `p<port>-<vmId>.<this>` (`LABVISOR_PORTS_DOMAIN`). */
  portsDomain: string;
  /** What the data directory's file system keeps free for running VMs' disks, in bytes. */
  minFreeDiskBytes: number;
  /** How many guest vCPUs each host CPU may carry (`LABVISOR_VCPU_OVERCOMMIT`). */
  vcpuOvercommit: number;
  /** Largest image upload accepted, in bytes. */
  imageMaxUploadBytes: number;
  /** Largest virtual disk size an uploaded image may have, in bytes. */
  imageMaxVirtualBytes: number;
  adminEmail: string | undefined;
  adminPassword: string | undefined;
  sessionSecret: string | undefined;
  /** The origin browsers use (for Origin checks and secure cookies), when behind a proxy. */
  publicUrl: string | undefined;
  logLevel: string;
  /** When set, `GET /metrics` answers only `Authorization: Bearer <this>`. */
  metricsToken: string | undefined;
  /**
   * Which peers are proxies whose `X-Forwarded-For` names the client (Express's `trust proxy`):
   * false for none, a number of hops, or a list of addresses and ranges.
   */
  trustProxy: boolean | number | string;
  isDevelopment: boolean;
  /** OpenID Connect single sign-on, when OIDC_ISSUER, OIDC_CLIENT_ID and OIDC_CLIENT_SECRET are all set. */
  oidc: OidcSettings | undefined;
}

/** An OpenID Connect provider to sign users in with. */
export interface OidcSettings {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** What a first-time identity gets: an account (`OIDC_CREATE_ACCOUNTS`), tenants by rules. */
  provisioning?: SsoProvisioning;
}

/** `OIDC_JOIN_RULES` parsed, or a ConfigError naming the bad rule. */
function parseJoinRulesOf(text: string) {
  try {
    return parseJoinRules(text);
  } catch (error) {
    throw new ConfigError(`Invalid configuration: OIDC_JOIN_RULES ${(error as Error).message}`);
  }
}

/** Thrown when the environment does not describe a valid configuration. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Validates the environment and returns the typed configuration; throws ConfigError naming each bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')} ${issue.message}`);
    throw new ConfigError(`Invalid configuration: ${problems.join('; ')}`);
  }
  const values = parsed.data;
  const oidcKeys = ['OIDC_ISSUER', 'OIDC_CLIENT_ID', 'OIDC_CLIENT_SECRET'] as const;
  const oidcSet = oidcKeys.filter((key) => values[key] !== undefined);
  if (oidcSet.length > 0 && oidcSet.length < oidcKeys.length) {
    const missing = oidcKeys.filter((key) => values[key] === undefined);
    throw new ConfigError(
      `Invalid configuration: ${missing.join(', ')} must be set too, to use single sign-on`,
    );
  }
  const home = env.HOME ?? '/root';
  const networkModes = [
    ...new Set<NetworkMode>([
      'none',
      ...(values.LABVISOR_NETWORK_MODES.split(',') as NetworkMode[]),
    ]),
  ];
  return {
    port: values.PORT,
    host: values.HOST,
    dataDir: path.resolve(values.LABVISOR_DATA_DIR),
    imageCacheDir: path.resolve(values.LABVISOR_CACHE_DIR ?? path.join(home, '.cache', 'labvisor')),
    backgroundImageBuilds: values.LABVISOR_BUILD_IMAGES.split(',').filter(Boolean),
    databaseUrl: values.DATABASE_URL,
    driver: driverConfigOf(values, networkModes),
    networkModes,
    portsDomain: values.LABVISOR_PORTS_DOMAIN,
    minFreeDiskBytes: values.LABVISOR_MIN_FREE_DISK_MIB * 1024 ** 2,
    vcpuOvercommit: values.LABVISOR_VCPU_OVERCOMMIT,
    imageMaxUploadBytes:
      values.LABVISOR_IMAGE_MAX_UPLOAD_MIB !== undefined
        ? values.LABVISOR_IMAGE_MAX_UPLOAD_MIB * 1024 ** 2
        : DEFAULT_MAX_UPLOAD_BYTES,
    imageMaxVirtualBytes:
      values.LABVISOR_IMAGE_MAX_VIRTUAL_GIB !== undefined
        ? values.LABVISOR_IMAGE_MAX_VIRTUAL_GIB * 1024 ** 3
        : DEFAULT_MAX_VIRTUAL_BYTES,
    adminEmail: values.LABVISOR_ADMIN_EMAIL?.toLowerCase(),
    adminPassword: values.LABVISOR_ADMIN_PASSWORD,
    sessionSecret: values.SESSION_SECRET,
    publicUrl: values.LABVISOR_PUBLIC_URL,
    logLevel: values.LOG_LEVEL,
    metricsToken: values.LABVISOR_METRICS_TOKEN,
    trustProxy: parseTrustProxy(values.LABVISOR_TRUST_PROXY),
    isDevelopment: values.NODE_ENV === 'development',
    oidc: values.OIDC_ISSUER
      ? {
          issuer: values.OIDC_ISSUER,
          clientId: values.OIDC_CLIENT_ID!,
          clientSecret: values.OIDC_CLIENT_SECRET!,
          provisioning: {
            createAccounts: values.OIDC_CREATE_ACCOUNTS === 'on',
            joinRules: parseJoinRulesOf(values.OIDC_JOIN_RULES),
          },
        }
      : undefined,
  };
}

type EnvValues = z.infer<typeof envSchema>;

/** The engine's driver and its settings, from the environment. */
function driverConfigOf(values: EnvValues, networkModes: NetworkMode[]): DriverConfig {
  if (values.LABVISOR_DRIVER === 'incus') return incusConfigOf(values);
  const dataDir = path.resolve(values.LABVISOR_DATA_DIR);
  return {
    kind: 'qemu',
    accel: values.LABVISOR_ACCEL,
    ...(values.LABVISOR_QEMU_USER ? { qemuUser: values.LABVISOR_QEMU_USER } : {}),
    // Instant labs: VMs of images with the guest agent start as clones of booted templates.
    ...(values.LABVISOR_TEMPLATES === 'on'
      ? { templatesDir: path.join(dataDir, 'templates') }
      : {}),
    ...(networkModes.some((mode) => mode !== 'none')
      ? {
          guestNetworks: {
            namespace: values.LABVISOR_NETWORK_NAMESPACE,
            stateDir: path.join(dataDir, 'network'),
            ...(values.LABVISOR_NETWORK_UPLINK_NAMESPACE
              ? { uplinkNamespace: values.LABVISOR_NETWORK_UPLINK_NAMESPACE }
              : {}),
            ...(values.LABVISOR_NETWORK_DNS
              ? { dnsServers: values.LABVISOR_NETWORK_DNS.split(',') }
              : {}),
          },
        }
      : {}),
  };
}

/** The Incus driver's settings: the cluster's addresses and the certificates' files, read here. */
function incusConfigOf(values: EnvValues): DriverConfig {
  const files = {
    LABVISOR_INCUS_CLIENT_CERT: values.LABVISOR_INCUS_CLIENT_CERT,
    LABVISOR_INCUS_CLIENT_KEY: values.LABVISOR_INCUS_CLIENT_KEY,
    LABVISOR_INCUS_SERVER_CERT: values.LABVISOR_INCUS_SERVER_CERT,
  };
  const missing = [
    ...(values.LABVISOR_INCUS_ADDRESSES ? [] : ['LABVISOR_INCUS_ADDRESSES']),
    ...Object.entries(files)
      .filter(([, value]) => value === undefined)
      .map(([key]) => key),
  ];
  if (missing.length > 0) {
    throw new ConfigError(
      `Invalid configuration: LABVISOR_DRIVER=incus needs ${missing.join(', ')} (see docs/incus.md)`,
    );
  }
  const read = (key: keyof typeof files): string => {
    try {
      return fs.readFileSync(files[key]!, 'utf8');
    } catch (error) {
      throw new ConfigError(
        `Invalid configuration: ${key} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'}: ${files[key]})`,
      );
    }
  };
  return {
    kind: 'incus',
    addresses: values.LABVISOR_INCUS_ADDRESSES!.split(','),
    clientCertificate: read('LABVISOR_INCUS_CLIENT_CERT'),
    clientKey: read('LABVISOR_INCUS_CLIENT_KEY'),
    serverCertificate: read('LABVISOR_INCUS_SERVER_CERT'),
  };
}

/** `LABVISOR_TRUST_PROXY` as Express takes it: `none` → false, digits → hops, else the list. */
function parseTrustProxy(value: string): boolean | number | string {
  if (value === 'none') return false;
  if (/^\d+$/.test(value)) return Number(value);
  return value;
}
