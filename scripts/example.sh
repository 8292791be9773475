#!/usr/bin/env bash
# Deploys the bundled examples (examples/stacks/*) with berth, using this repository's
# committed HEAD as the git source, then prints `berth status`. Safe to run again: the
# second run finds every stack unchanged. Works offline: the examples only use the local
# fixture image, which scripts/ensure-docker.sh builds.
#
#   bash scripts/example.sh                      deploy (or re-check) the examples
#   bash scripts/example.sh history worker -v    any other berth command, same config
#   bash scripts/example.sh down                 bring the example stacks down again
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

bash scripts/ensure-docker.sh
bash scripts/install-deps.sh
npx tsc -p tsconfig.build.json

branch=$(git rev-parse --abbrev-ref HEAD)
if [ "$branch" = HEAD ]; then
  echo "example.sh: the checkout is on a detached HEAD; check out a branch first" >&2
  exit 2
fi
if ! git diff --quiet HEAD -- examples/stacks ||
  [ -n "$(git ls-files --others --exclude-standard examples/stacks)" ]; then
  echo "note: examples/stacks has uncommitted changes; berth deploys what is committed on $branch" >&2
fi

# config.example.yaml watches examples/stacks/* with ./data as data dir; these overrides
# make its source this repository over git (the committed HEAD of the current branch)
# instead of the working tree.
export BERTH_GIT_URL="file://$root"
export BERTH_GIT_BRANCH="$branch"

berth() { node "$root/dist/cli/main.js" "$@" --config "$root/config.example.yaml"; }

if [ "${1:-}" = down ] && [ $# = 1 ]; then
  for stack in secrets webapp whoami worker; do berth down "$stack"; done
  exit 0
fi
if [ $# -gt 0 ]; then
  berth "$@"
  exit
fi

result=0
berth reconcile --once || result=$?
echo
berth status || true
if [ "$result" = 0 ]; then
  echo
  echo "webapp: curl http://127.0.0.1:18080/   whoami: curl http://127.0.0.1:18081/   secrets: curl http://127.0.0.1:18082/"
  echo "hook output: bash scripts/example.sh history worker --verbose"
fi
exit "$result"
