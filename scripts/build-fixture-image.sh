#!/usr/bin/env bash
# Builds the busybox fixture image without a registry: a rootfs holding /bin/busybox
# and its applet links, imported with `docker import`. Tests never pull.
set -euo pipefail
IMAGE="${BERTH_FIXTURE_IMAGE:-berth-fixture/busybox:latest}"
if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  exit 0
fi
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,etc,tmp,var/www,root,home,proc,sys,dev,run,usr/bin}
cp /bin/busybox "$root/bin/busybox"
for applet in $(/bin/busybox --list); do
  [ "$applet" = busybox ] || ln -sf /bin/busybox "$root/bin/$applet"
done
chmod 1777 "$root/tmp"
cat >"$root/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
P
cat >"$root/etc/group" <<'G'
root:x:0:
daemon:x:1:
www-data:x:33:
users:x:100:
nogroup:x:65534:
G
echo 'hello from berth fixture' >"$root/var/www/index.html"
tar -C "$root" -c . | docker import \
  --change 'ENV PATH=/bin:/sbin:/usr/bin' \
  --change 'CMD ["sh"]' \
  - "$IMAGE" >/dev/null
echo "built $IMAGE" >&2
