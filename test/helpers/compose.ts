import type { ServiceConfig } from '../../src/compose/types.js';
import { FIXTURE_IMAGE } from './docker.js';

/** A normalized service exactly as the loader gives `image:` alone, with overrides on top. */
export function bareService(name: string, overrides: Partial<ServiceConfig> = {}): ServiceConfig {
  return {
    name,
    image: FIXTURE_IMAGE,
    pullPolicy: 'missing',
    environment: {},
    ports: [],
    expose: [],
    volumes: [],
    networks: { default: { aliases: [] } },
    dependsOn: {},
    replicas: 1,
    labels: {},
    extraHosts: [],
    dns: [],
    dnsSearch: [],
    dnsOpt: [],
    capAdd: [],
    capDrop: [],
    privileged: false,
    devices: [],
    securityOpt: [],
    tmpfs: [],
    ulimits: {},
    sysctls: {},
    readOnly: false,
    tty: false,
    stdinOpen: false,
    secrets: [],
    configs: [],
    groupAdd: [],
    volumesFrom: [],
    links: [],
    profiles: [],
    ...overrides,
  };
}

/**
 * The healthcheck block of a test compose file, for a `CMD-SHELL` check.
 *
 * Docker runs every probe as an exec, about 0.1 s of CPU each on this machine: a 500 ms interval
 * on every container of a few overlapping tests saturates two cores, and then probes time out
 * and healthy versions miss their gate. So a check that cannot change once it passed (`true`)
 * probes every second; any other check every 500 ms, so a change (a file removed, `false`)
 * shows quickly. (Debian's Docker 20.10 has no `start_interval`, which would let steady checks
 * probe fast only while starting.) The timeout is generous: a slow probe on a loaded machine
 * is not a failed one, and `false` fails at its first probe whatever the timeout.
 */
export function healthcheckYaml(
  test: string,
  indent = '    ',
  options: { startPeriod?: string } = {},
): string[] {
  return [
    `${indent}healthcheck:`,
    `${indent}  test: ["CMD-SHELL", ${JSON.stringify(test)}]`,
    `${indent}  interval: ${test === 'true' ? '1s' : '500ms'}`,
    `${indent}  timeout: 20s`,
    `${indent}  retries: 1`,
    // A check that only passes after a slow start: failures until then do not count.
    `${indent}  start_period: ${options.startPeriod ?? '0s'}`,
  ];
}
