import { randomBytes } from 'node:crypto';
import Docker from 'dockerode';

/** The locally built busybox image (scripts/build-fixture-image.sh). Tests never pull. */
export const FIXTURE_IMAGE = process.env.BERTH_FIXTURE_IMAGE ?? 'berth-fixture/busybox:latest';

/** A project name no other test (or earlier run) uses. */
export function uniqueName(prefix: string): string {
  return `bt-${prefix}-${randomBytes(4).toString('hex')}`.toLowerCase();
}

/** A raw Docker client for assertions; berth's own code goes through ContainerEngine. */
export function testDocker(): Docker {
  return new Docker();
}

/**
 * Removes everything a test created for a Compose project, whoever created it
 * (berth or docker-compose): containers, networks, and volumes labelled with the project.
 */
export async function removeProject(project: string, docker: Docker = testDocker()): Promise<void> {
  const filters = { label: [`com.docker.compose.project=${project}`] };
  const containers = await docker.listContainers({ all: true, filters });
  await Promise.all(
    containers.map((c) =>
      docker
        .getContainer(c.Id)
        .remove({ force: true, v: true })
        .catch(() => undefined),
    ),
  );
  const networks = await docker.listNetworks({ filters });
  await Promise.all(
    networks.map((n) =>
      docker
        .getNetwork(n.Id)
        .remove()
        .catch(() => undefined),
    ),
  );
  const volumes = await docker.listVolumes({ filters });
  await Promise.all(
    (volumes.Volumes ?? []).map((v) =>
      docker
        .getVolume(v.Name)
        .remove({ force: true })
        .catch(() => undefined),
    ),
  );
}
