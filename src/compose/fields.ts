/**
 * The compose-spec fields berth refuses, each with the reason the error message gives.
 * Keys are field paths as written in a compose file: `*` stands for any name (a service, a
 * network), `[]` for any list item. Every other field of the spec is mapped (accepted by the
 * schemas in schema.ts); docs/compose-fields.md lists both, and
 * test/compose/field-inventory.test.ts keeps the three in step with the spec.
 */
export const REFUSED_FIELDS: Readonly<Record<string, string>> = {
  models:
    'AI models are served by Docker Model Runner, a Docker Desktop feature; berth deploys containers only',

  'services.*.credential_spec':
    'a credential spec configures a Windows managed service account; berth runs Linux containers',
  'services.*.develop': 'watch mode is a development feature; berth deploys from git',
  'services.*.label_file': 'berth does not read label files; put the labels under `labels:`',
  'services.*.models':
    'AI models are served by Docker Model Runner, a Docker Desktop feature; berth deploys containers only',
  'services.*.post_start':
    "berth does not run container lifecycle hooks; run the step in the image's entrypoint, or use the stack's hooks.postDeploy",
  'services.*.pre_stop':
    "berth does not run container lifecycle hooks; handle the stop signal in the container, or use the stack's hooks.preDeploy",
  'services.*.provider':
    'a provider service is set up by an external plugin binary; berth deploys containers only',
  'services.*.pull_refresh_after':
    'time-based pull policies are not supported; set `updates: { images: true }` in the deploy settings to follow new image digests',
  'services.*.use_api_socket':
    "it would hand the Docker API and berth's registry credentials to the container; bind-mount /var/run/docker.sock explicitly if the container must control Docker",

  'services.*.build.additional_contexts':
    'named build contexts need BuildKit; berth builds through the Engine API builder',
  'services.*.build.cache_from':
    'berth does not pass cache sources to the build; it builds on the deploy host, whose local cache the daemon uses',
  'services.*.build.cache_to': 'exporting the build cache needs BuildKit exporters',
  'services.*.build.dockerfile_inline':
    'berth builds from files in git: commit the Dockerfile and name it in `build.dockerfile`',
  'services.*.build.entitlements': 'build entitlements are a BuildKit feature',
  'services.*.build.isolation':
    'build isolation chooses a Windows isolation technology; berth builds Linux images',
  'services.*.build.platforms':
    'multi-platform builds need BuildKit; berth builds one image for the host',
  'services.*.build.privileged': 'privileged builds are a BuildKit entitlement',
  'services.*.build.secrets':
    'build secrets need a BuildKit session; pass build-time values with `build.args`',
  'services.*.build.ssh': 'SSH agent forwarding into a build needs a BuildKit session',
  'services.*.build.tags':
    'berth names the image it builds itself (one tag per stack and service) and adds no others',
  'services.*.build.ulimits': 'berth does not pass ulimits to the build',

  'services.*.deploy.endpoint_mode':
    'chooses how swarm routes to a service (virtual IP or DNS round-robin); berth runs plain containers on one host',
  'services.*.deploy.placement':
    'places swarm tasks on nodes; berth deploys to the host it runs on',
  'services.*.deploy.rollback_config':
    'swarm rollback settings; berth rolls back to the last good version itself (deploy settings markBad, redeployGood)',
  'services.*.deploy.update_config':
    'swarm rolling-update settings; choose the rollout with the deploy setting `method` (simple, blue-green, canary)',
  'services.*.deploy.resources.reservations.generic_resources':
    'generic resources are advertised by swarm nodes; a container on one host cannot reserve them',

  'services.*.networks.*.gw_priority':
    "choosing the gateway network needs Engine API 1.48 (Docker 28), newer than berth's 1.41 baseline; `priority` orders the networks",
  'services.*.networks.*.interface_name':
    "naming the container's interface needs Docker 28.1, newer than berth's Docker 20.10 baseline",
  'services.*.networks.*.mac_address':
    "a MAC address per network needs Engine API 1.44 (Docker 25), newer than berth's 1.41 baseline; use the service's `mac_address` for its first network",

  'services.*.env_file[].format':
    'berth reads env files in the dotenv format only (plain or SOPS-encrypted)',
  'services.*.volumes[].image':
    "image mounts need Engine API 1.48 (Docker 28), newer than berth's 1.41 baseline",
  'services.*.volumes[].bind.recursive':
    "non-recursive and read-only-recursive bind mounts need Engine API 1.44 (Docker 25), newer than berth's 1.41 baseline",

  'networks.*.enable_ipv4':
    "turning IPv4 off needs Engine API 1.47 (Docker 28), newer than berth's 1.41 baseline",

  'secrets.*.name':
    'outside swarm a secret is a file mounted into the container; there is no secret object to name',
  'secrets.*.labels':
    'outside swarm a secret is a file mounted into the container; there is no secret object to label',
  'secrets.*.driver': 'secret drivers are a swarm feature',
  'secrets.*.driver_opts': 'secret drivers are a swarm feature',
  'secrets.*.template_driver': 'templated secrets are a swarm feature',
  'configs.*.name':
    'outside swarm a config is a file mounted into the container; there is no config object to name',
  'configs.*.labels':
    'outside swarm a config is a file mounted into the container; there is no config object to label',
  'configs.*.template_driver': 'templated configs are a swarm feature',
};

/** Why berth refuses the field at `path` (segments as in REFUSED_FIELDS), if it does. */
export function refusedReason(path: readonly string[]): string | undefined {
  for (const [pattern, why] of Object.entries(REFUSED_FIELDS)) {
    const parts = pattern.split('.');
    if (parts.length !== path.length) continue;
    if (parts.every((part, i) => part === '*' || part === path[i])) return why;
  }
  return undefined;
}
