import { describe, expect, it } from 'vitest';
import {
  containerIdsFromMountInfo,
  parseMountInfo,
  unescapeMountField,
} from '../../src/engine/self.js';

const ID = 'a3f1c2d4e5b6978812345678901234567890abcdef1234567890abcdef123456';
const OTHER = 'b'.repeat(64);

/** /proc/self/mountinfo of a Docker container (overlay2 root, /var/lib/docker on the host's disk). */
const DOCKER = [
  `1101 1000 0:118 / / rw,relatime master:566 - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/X:/var/lib/docker/overlay2/l/Y,upperdir=/var/lib/docker/overlay2/abc/diff,workdir=/var/lib/docker/overlay2/abc/work`,
  `1102 1101 0:121 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw`,
  `1103 1101 0:122 / /dev rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755`,
  `1110 1101 254:0 /var/lib/docker/volumes/berth_data/_data /var/lib/berth rw,relatime master:1 - ext4 /dev/vda rw,discard`,
  `1111 1101 254:0 /home/me/my\\040stacks /stacks ro,relatime - ext4 /dev/vda rw`,
  `1112 1101 254:0 /var/lib/docker/containers/${ID}/resolv.conf /etc/resolv.conf rw,relatime - ext4 /dev/vda rw,discard`,
  `1113 1101 254:0 /var/lib/docker/containers/${ID}/hostname /etc/hostname rw,relatime - ext4 /dev/vda rw,discard`,
  `1114 1101 254:0 /var/lib/docker/containers/${ID}/hosts /etc/hosts rw,relatime - ext4 /dev/vda rw,discard`,
  `1115 1101 0:26 / /run/docker.sock rw,nosuid,nodev,noexec,relatime shared:5 - tmpfs tmpfs rw,size=1628444k,mode=755`,
  '',
].join('\n');

describe('mountinfo', () => {
  it('parses fields around optional fields and undoes octal escapes', () => {
    const entries = parseMountInfo(DOCKER);
    expect(entries).toHaveLength(9);
    expect(entries[0]).toMatchObject({ root: '/', mountPoint: '/', fsType: 'overlay' });
    expect(entries[3]).toEqual({
      root: '/var/lib/docker/volumes/berth_data/_data',
      mountPoint: '/var/lib/berth',
      fsType: 'ext4',
      source: '/dev/vda',
    });
    expect(entries[4]?.root).toBe('/home/me/my stacks');
    expect(entries[8]).toMatchObject({ mountPoint: '/run/docker.sock', fsType: 'tmpfs' });
  });

  it('unescapes space, tab, newline and backslash', () => {
    expect(unescapeMountField('a\\040b\\011c\\012d\\134e')).toBe('a b\tc\nd\\e');
    expect(unescapeMountField('/plain/path')).toBe('/plain/path');
  });

  it('skips malformed lines', () => {
    expect(parseMountInfo('garbage\n1 2 3\n\n')).toEqual([]);
    expect(parseMountInfo('36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 -')).toEqual([]);
  });

  it('finds the container id in the files Docker mounts into every container', () => {
    expect(containerIdsFromMountInfo(parseMountInfo(DOCKER))).toEqual([ID]);
  });

  it('finds it when /var/lib/docker is a filesystem of its own, and in Podman paths', () => {
    const ownDisk = `50 40 8:17 /containers/${ID}/hostname /etc/hostname rw - xfs /dev/sdb1 rw`;
    expect(containerIdsFromMountInfo(parseMountInfo(ownDisk))).toEqual([ID]);
    const podman = [
      `60 40 0:50 /containers/storage/overlay-containers/${ID}/userdata/hostname /etc/hostname rw - tmpfs tmpfs rw`,
      `61 40 0:50 /containers/storage/overlay-containers/${ID}/userdata/resolv.conf /etc/resolv.conf rw - tmpfs tmpfs rw`,
      `62 40 0:51 /containers/storage/overlay-containers/${OTHER}/userdata/hosts /etc/hosts rw - tmpfs tmpfs rw`,
    ].join('\n');
    // Most mentioned first.
    expect(containerIdsFromMountInfo(parseMountInfo(podman))).toEqual([ID, OTHER]);
  });

  it('ignores container folders mounted anywhere else (the Docker host lists its containers)', () => {
    const host = [
      `27 1 254:0 / / rw,relatime - ext4 /dev/vda rw`,
      `300 27 0:60 / /var/lib/docker/containers/${ID}/mounts/shm rw - tmpfs shm rw,size=65536k`,
      `301 27 254:0 /var/lib/docker/containers/${OTHER}/hostname /srv/copy rw - ext4 /dev/vda rw`,
    ].join('\n');
    expect(containerIdsFromMountInfo(parseMountInfo(host))).toEqual([]);
  });

  it('finds nothing in a container of another kind', () => {
    const other = [
      `27 1 254:0 / / rw,relatime - ext4 /dev/vda rw`,
      `28 27 0:25 / /etc/hostname ro - tmpfs tmpfs rw`,
      `29 27 254:0 /run/sandbox/abc/hosts /etc/hosts rw - ext4 /dev/vda rw`,
    ].join('\n');
    expect(containerIdsFromMountInfo(parseMountInfo(other))).toEqual([]);
  });
});
