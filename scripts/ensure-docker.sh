#!/usr/bin/env bash
# Makes sure a Docker engine answers, the tools the tests use are installed, and the
# fixture image exists. Idempotent: on a prepared machine it only checks.
set -euo pipefail

need_pkgs=()
command -v dockerd >/dev/null 2>&1 || need_pkgs+=(docker.io)
[ -x /bin/busybox ] || need_pkgs+=(busybox-static)
command -v docker-compose >/dev/null 2>&1 || need_pkgs+=(docker-compose)
command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || need_pkgs+=(openssh-server)
# The encrypted-secrets tests make their files with the real age tool and open SOPS's own
# known-answer fixtures' data keys with gpg.
command -v age >/dev/null 2>&1 || need_pkgs+=(age)
command -v gpg >/dev/null 2>&1 || need_pkgs+=(gnupg)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "missing packages ${need_pkgs[*]} and not root: install them first" >&2
    exit 1
  fi
  echo "installing ${need_pkgs[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  echo "starting dockerd" >&2
  # The default pools hold about 30 networks; parallel integration tests need more.
  # Same private range Docker uses by default, cut into /24s: 1024 networks.
  nohup dockerd --default-address-pool base=172.20.0.0/14,size=24 >/tmp/berth-dockerd.log 2>&1 &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 || { echo "dockerd did not come up; see /tmp/berth-dockerd.log" >&2; exit 1; }
fi

# The private-registry tests run a real registry (docker-registry, htpasswd).
bash "$(dirname "$0")/ensure-registry.sh"
bash "$(dirname "$0")/build-fixture-image.sh"
