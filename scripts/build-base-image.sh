#!/usr/bin/env bash
# Builds a local stand-in for node:20-bookworm-slim, for the image test (test/image/) on a
# machine that reaches no container registry: a Debian bookworm minbase root made with
# debootstrap, and this machine's Node.js and npm laid out as the official image has them
# (/usr/local/bin/node, /usr/local/lib/node_modules/npm, headers in /usr/local/include/node).
# Prints the image's tag on stdout; skips the work when that image already exists.
#   BERTH_BASE_IMAGE  the tag (default berth-test/node:<major>-bookworm-slim-<node version>)
#   DEBIAN_MIRROR     the mirror debootstrap and apt use (default http://deb.debian.org/debian)
set -euo pipefail

NODE_BIN="${NODE_BIN:-$(command -v node)}"
NODE_BIN="$(readlink -f "$NODE_BIN")"
node_version="$("$NODE_BIN" --version)"
node_major="${node_version#v}"
node_major="${node_major%%.*}"
IMAGE="${BERTH_BASE_IMAGE:-berth-test/node:${node_major}-bookworm-slim-${node_version#v}}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

exists() { docker image inspect "$IMAGE" >/dev/null 2>&1; }

if exists; then
  echo "$IMAGE"
  exit 0
fi

# Two test runs at once build it once: the second waits here, then finds the image.
exec 9>"/tmp/berth-build-base-image.lock"
flock 9
if exists; then
  echo "$IMAGE"
  exit 0
fi

started=$(date +%s)
node_prefix="$(dirname "$(dirname "$NODE_BIN")")" # /usr for /usr/bin/node
npm_dir="$node_prefix/lib/node_modules/npm"
headers="$node_prefix/include/node"
for needed in "$npm_dir/bin/npm-cli.js" "$headers/node.h"; do
  [ -e "$needed" ] || { echo "build-base-image: $needed not found" >&2; exit 1; }
done
if ! command -v debootstrap >/dev/null; then
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >&2
fi

root="$(mktemp -d /tmp/berth-base-root.XXXXXX)"
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase bookworm "$root" "$MIRROR" >&2

# apt as the official image has it: bookworm, -updates and -security, no caches kept.
rm -f "$root/etc/apt/sources.list"
cat >"$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${MIRROR%/debian}/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
# The mirror this machine reaches may serve a dated snapshot, whose Release files are past
# their Valid-Until; this machine's apt is set up the same way.
cat >"$root/etc/apt/apt.conf.d/99berth-test-mirror" <<'EOF'
Acquire::Check-Valid-Until "false";
Acquire::Check-Date "false";
EOF
# The settings Debian's official images carry (debuerreotype): no package caches kept in
# layers, compressed lists, no translations, unsafe (fast) dpkg I/O.
cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
echo 'Acquire::GzipIndexes "true";' >"$root/etc/apt/apt.conf.d/docker-gzip-indexes"
echo 'Acquire::Languages "none";' >"$root/etc/apt/apt.conf.d/docker-no-languages"
echo 'Apt::AutoRemove::SuggestsImportant "false";' \
  >"$root/etc/apt/apt.conf.d/docker-autoremove-suggests"
echo 'force-unsafe-io' >"$root/etc/dpkg/dpkg.cfg.d/docker-apt-speedup"
# ... and, being "slim", no documentation, manuals or translations.
cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
EOF
find "$root/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete
rm -rf "$root"/usr/share/{man,groff,info,lintian,linda}/*
find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/archives/*.deb

# Node.js where the official image keeps it.
install -D -m 0755 "$NODE_BIN" "$root/usr/local/bin/node"
mkdir -p "$root/usr/local/lib/node_modules" "$root/usr/local/include"
cp -a "$npm_dir" "$root/usr/local/lib/node_modules/npm"
cp -a "$headers" "$root/usr/local/include/node"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
chroot "$root" groupadd --gid 1000 node
chroot "$root" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
# The check the official image's build ends with: node and npm run in the new root.
env -u NODE_EXTRA_CA_CERTS chroot "$root" /usr/local/bin/node --version >&2
env -u NODE_EXTRA_CA_CERTS chroot "$root" /usr/local/bin/node /usr/local/bin/npm --version >&2

# This machine reaches the npm registry through a TLS proxy whose CA only its own bundle
# trusts; npm in the image needs it too (a registry reached directly needs nothing).
changes=(--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin')
changes+=(--change "ENV NODE_VERSION=${node_version#v}")
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$root/usr/local/share/berth-test/ca.crt"
  changes+=(--change 'ENV NODE_EXTRA_CA_CERTS=/usr/local/share/berth-test/ca.crt')
fi
changes+=(--change 'CMD ["node"]')

tar --numeric-owner -C "$root" -c . | docker import "${changes[@]}" - "$IMAGE" >/dev/null
echo "built $IMAGE in $(($(date +%s) - started))s" >&2
echo "$IMAGE"
