#!/usr/bin/env bash
# The one test command: prepares the machine (Docker, fixture image, dependencies),
# then runs lint, typecheck, build and every test. `.ci/run` calls this.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-docker.sh
bash scripts/install-deps.sh
echo "== lint"
npx eslint .
npx prettier --check . >/dev/null || { npx prettier --check . ; exit 1; }
# The layers of the architecture (.dependency-cruiser.cjs): no upward import, no cycle.
npx depcruise --config .dependency-cruiser.cjs src
echo "== typecheck"
npx tsc -p tsconfig.json --noEmit
echo "== build"
npx tsc -p tsconfig.build.json
echo "== tests"
report=$(mktemp)
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@" || status=$?
# One plain closing line, whatever the runner printed above it.
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`);
' "$report" || true
rm -f "$report"
exit "$status"
