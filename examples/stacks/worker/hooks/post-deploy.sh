#!/bin/sh
# Runs after the deploy with its result: success, failed or rolled-back.
set -eu
echo "post-deploy: ${BERTH_STACK} $(printf %s "$BERTH_VERSION" | cut -c1-12) finished with ${BERTH_RESULT}"
if [ "${BERTH_RESULT}" = success ]; then
  echo "post-deploy: resuming queue consumers"
fi
