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

/** The payload of Docker's multiplexed stdout/stderr stream (8-byte frame headers stripped). */
export function demuxFrames(raw: Buffer): string {
  const out: Buffer[] = [];
  for (let i = 0; i + 8 <= raw.length;) {
    const size = raw.readUInt32BE(i + 4);
    out.push(raw.subarray(i + 8, i + 8 + size));
    i += 8 + size;
  }
  return Buffer.concat(out).toString('utf8');
}

/** Runs a command in a running container and returns its output. */
export async function execIn(container: Docker.Container, cmd: string[]): Promise<string> {
  const exec = await container.exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', resolve);
    stream.on('error', reject);
  });
  return demuxFrames(Buffer.concat(chunks));
}
