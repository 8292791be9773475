# berth as a container: run it with the Docker socket mounted (deploy/compose.yaml).
#
#   docker build -t berth \
#     --build-arg BERTH_VERSION="$(node -p 'require("./package.json").version')" .
#
# NODE_IMAGE swaps the base image (the tests build a local stand-in for it with
# scripts/build-base-image.sh; no registry is reachable there). Every stage uses the same one,
# so the native module compiled for the build (better-sqlite3) matches the Node.js that runs it.
# BERTH_SOURCE (optional) labels the image with the repository's URL.
ARG NODE_IMAGE=node:20-bookworm-slim

# deps: the toolchain and every dependency (dev ones included), installed from the lock file.
FROM ${NODE_IMAGE} AS deps
# better-sqlite3 downloads a prebuilt binary when it can and compiles from source when it
# cannot; this is what compiling needs. node-gyp takes the headers the Node.js image ships
# (/usr/local/include/node) instead of downloading them, and compiles on every core (JOBS).
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && apt-get clean && rm -rf /var/lib/apt/lists/*
ENV npm_config_nodedir=/usr/local \
  JOBS=max \
  npm_config_update_notifier=false \
  npm_config_audit=false \
  npm_config_fund=false
WORKDIR /opt/berth
# Dependencies first: this layer is rebuilt only when package.json or the lock file changes. Install scripts
# stay on (package.json `allowScripts` lets better-sqlite3's run under npm 11). `npm ci` can
# refuse a lock file some npm 11 setups write (no optional packages of other platforms);
# `npm install` then installs from it (as scripts/install-deps.sh does).
COPY package.json package-lock.json ./
# Where better-sqlite3 fetches its prebuilt binary, for build hosts that cannot reach GitHub
# but have a mirror (npm's own setting, passed through; unset by default).
ARG npm_config_better_sqlite3_binary_host
RUN npm ci || npm install

# build: compile, then keep only what runs.
FROM deps AS build
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY src ./src
# Build with the dev dependencies, then drop them in place (no second install, no second
# compile of better-sqlite3) and gather what runs into /out: the build's outputs (dist/ and
# whatever else `npm run build` writes, such as schemas/), package.json and node_modules/.
# A better-sqlite3 compiled here leaves its sources and objects beside the addon (~30 MB);
# only build/Release/better_sqlite3.node is loaded, as from a prebuilt download.
RUN npm run build \
  && npm prune --omit=dev \
  && (cd node_modules/better-sqlite3 \
    && rm -rf deps src build/deps build/Release/obj build/Release/obj.target \
      build/Release/.deps build/Release/*.a build/Release/test_extension.node) \
  && rm -rf node_modules/.cache \
  && mkdir /out \
  && for entry in package.json node_modules dist schemas; do \
    if [ -e "$entry" ]; then mv "$entry" /out/; fi; \
  done \
  && chmod 0755 /out/dist/cli/main.js

FROM ${NODE_IMAGE} AS runtime
# git and ssh fetch the watched repository; ca-certificates for https remotes. tini runs as
# PID 1: it reaps the git and hook processes berth starts and passes signals on to berth.
RUN apt-get update \
  && apt-get install -y --no-install-recommends git openssh-client ca-certificates tini \
  && apt-get clean && rm -rf /var/lib/apt/lists/*
COPY --from=build /out /opt/berth
# main.js starts with `#!/usr/bin/env -S node …`, so the link is the whole launcher.
RUN ln -s /opt/berth/dist/cli/main.js /usr/local/bin/berth
# berth reads ./berth.yaml when it exists (mount it here), else runs from BERTH_* variables.
ENV BERTH_DATA_DIR=/var/lib/berth \
  NODE_ENV=production
WORKDIR /etc/berth
VOLUME /var/lib/berth
# server.listen's default port (the HTTP server is on only when the config has `server:`,
# and in a container it must listen on 0.0.0.0, e.g. `listen: 0.0.0.0:7070`).
EXPOSE 7070
# Runs as root: it talks to Docker through the mounted socket, which is root's (or the docker
# group's, whose id differs from host to host). Anyone who can reach that socket is root on
# the host anyway; a non-root user here would add no isolation.
# The daemon finishes its running step, records state and exits 0 on SIGTERM.
STOPSIGNAL SIGTERM
# Healthy while the daemon answers on its control socket (<dataDir>/berth.sock).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s CMD ["berth", "healthcheck"]
ENTRYPOINT ["/usr/bin/tini", "--", "berth"]
CMD ["daemon"]

# Last, so a new date or version rebuilds no layer above. A Dockerfile cannot read
# package.json into a label, so the version comes in as a build argument (see the top); built
# without it, the label falls back to "unknown" while `berth --version` still reads the
# package.json copied above.
ARG BERTH_VERSION=unknown
ARG BERTH_CREATED=
ARG BERTH_SOURCE=
LABEL org.opencontainers.image.title="berth" \
  org.opencontainers.image.description="GitOps reconciler for Docker Compose stacks" \
  org.opencontainers.image.version="${BERTH_VERSION}" \
  org.opencontainers.image.source="${BERTH_SOURCE}" \
  org.opencontainers.image.licenses="MIT" \
  org.opencontainers.image.created="${BERTH_CREATED}"
