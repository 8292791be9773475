#!/usr/bin/env bash
# Installs the npm dependencies when node_modules is missing or older than the lock file.
# `npm ci` first; some npm 11 setups write lock files that `npm ci` then refuses for
# lacking other platforms' optional packages, so fall back to `npm install` from the lock.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ]; then
  exit 0
fi
npm ci --no-audit --no-fund || npm install --no-audit --no-fund
