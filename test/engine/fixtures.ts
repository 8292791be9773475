import type {
  ComposeProject,
  NetworkConfig,
  ServiceConfig,
  VolumeConfig,
} from '../../src/compose/types.js';
import { bareService } from '../helpers/compose.js';

/** A normalized service with the loader's defaults; stop grace 0 s so busybox PID 1 dies at once. */
export function service(name: string, overrides: Partial<ServiceConfig> = {}): ServiceConfig {
  return bareService(name, { command: ['sleep', '3600'], stopGracePeriodMs: 0, ...overrides });
}

/** busybox httpd with a fast healthcheck on it. */
export function webService(name: string, overrides: Partial<ServiceConfig> = {}): ServiceConfig {
  return service(name, {
    command: ['httpd', '-f', '-p', '8080', '-h', '/var/www'],
    healthcheck: {
      disable: false,
      test: ['CMD-SHELL', 'timeout 2 wget -q -O- http://127.0.0.1:8080/ >/dev/null'],
      intervalMs: 250,
      timeoutMs: 2000,
      retries: 20,
    },
    ...overrides,
  });
}

export function network(
  project: string,
  key: string,
  overrides: Partial<NetworkConfig> = {},
): NetworkConfig {
  return {
    key,
    name: `${project}_${key}`,
    external: false,
    driverOpts: {},
    internal: false,
    attachable: false,
    enableIpv6: false,
    labels: {},
    ...overrides,
  };
}

export function volume(
  project: string,
  key: string,
  overrides: Partial<VolumeConfig> = {},
): VolumeConfig {
  return {
    key,
    name: `${project}_${key}`,
    external: false,
    driverOpts: {},
    labels: {},
    ...overrides,
  };
}

/** A project over the given services; the default network is added when a service uses it. */
export function project(
  name: string,
  services: ServiceConfig[],
  overrides: Partial<ComposeProject> = {},
): ComposeProject {
  const usesDefault = services.some((s) => s.networkMode === undefined && 'default' in s.networks);
  return {
    name,
    workingDir: `/tmp/${name}`,
    configFiles: [`/tmp/${name}/compose.yaml`],
    services: Object.fromEntries(services.map((s) => [s.name, s])),
    networks: usesDefault ? { default: network(name, 'default') } : {},
    volumes: {},
    secrets: {},
    configs: {},
    extensions: {},
    ...overrides,
  };
}
