#!/bin/sh
# Runs before berth replaces the worker: a real one would drain the queue or take a backup.
set -eu
short() { printf %s "$1" | cut -c1-12; }
echo "pre-deploy: ${BERTH_STACK} $(short "$BERTH_VERSION") (commit $(short "$BERTH_COMMIT")), replacing $(short "${BERTH_PREVIOUS_VERSION:-nothing}")"
echo "pre-deploy: pausing queue consumers (nothing to pause in the example)"
