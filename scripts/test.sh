#!/usr/bin/env bash
# The one test command: prepares the machine (Docker, fixture image, dependencies),
# then runs lint, typecheck and every test. `.ci/run` calls this.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-docker.sh
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
echo "== lint" && npx eslint . && npx prettier --check . >/dev/null
echo "== typecheck" && npx tsc -p tsconfig.json --noEmit
echo "== build" && npx tsc -p tsconfig.build.json
echo "== tests" && npx vitest run "$@"
