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
