#!/usr/bin/env bash
# The private-registry tests run a real registry (the Distribution registry, Debian's
# docker-registry) with htpasswd auth; htpasswd (apache2-utils) writes its bcrypt file.
# Idempotent: on a prepared machine it only checks.
set -euo pipefail

need_pkgs=()
[ -x /usr/bin/docker-registry ] || need_pkgs+=(docker-registry)
command -v htpasswd >/dev/null 2>&1 || need_pkgs+=(apache2-utils)
if [ ${#need_pkgs[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "missing packages ${need_pkgs[*]} and not root: install them first" >&2
  exit 1
fi
echo "installing ${need_pkgs[*]}" >&2
apt-get update -qq
# The tests start their own registry on a free port; the package's service (:5000) is not used.
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
