#!/bin/sh
# Runs before berth replaces the worker: a real one would drain the queue or take a backup.
set -eu
echo "pre-deploy: ${BERTH_STACK} ${BERTH_VERSION} (commit ${BERTH_COMMIT}), replacing ${BERTH_PREVIOUS_VERSION:-nothing}"
echo "pre-deploy: pausing queue consumers (nothing to pause in the example)"
