# syntax=docker/dockerfile:1
# The two programs' images, one target each: `docker build --target api .` and `docker build --target worker .`
# (docker-compose.yml builds both). Each holds its bundled program (npm run build) and the production
# dependencies of that program alone: no TypeScript, tsx or esbuild, no sharp in the API, no Swagger UI or
# Bull Board in the worker. They run as the unprivileged node user under tini, on the current Node LTS.
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY --parents package.json package-lock.json apps/*/package.json packages/*/package.json test/package.json ./
# Install scripts are not needed: sharp and esbuild ship prebuilt binaries as optional dependencies.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN npm run build

# The manifests alone: `npm ci --workspace` needs every workspace's to read the lockfile.
FROM ${NODE_IMAGE} AS manifests
WORKDIR /app
COPY --parents package.json package-lock.json apps/*/package.json packages/*/package.json test/package.json ./

FROM manifests AS api-dependencies
# typescript is an optional peer of a dashboard dependency that npm keeps; the bundle needs no workspace links.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund --workspace @imgsvc/api \
  && rm -rf node_modules/@imgsvc node_modules/typescript \
  && npm cache clean --force

FROM manifests AS worker-dependencies
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund --workspace @imgsvc/worker \
  && rm -rf node_modules/@imgsvc node_modules/typescript \
  && npm cache clean --force

FROM ${NODE_IMAGE} AS runtime
RUN apt-get update \
  && apt-get install -y --no-install-recommends tini \
  && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production STORAGE_DIR=/data/images
WORKDIR /app
# Outputs when no bucket is configured (S3_BUCKET unset): mount a volume here.
RUN mkdir -p /data/images && chown node:node /data/images
ENTRYPOINT ["/usr/bin/tini", "--"]

FROM runtime AS api
ENV HOST=0.0.0.0 PORT=3000
COPY --from=api-dependencies /app/node_modules node_modules
COPY --from=build /app/dist/api.mjs /app/dist/api.mjs.map /app/dist/healthcheck.mjs dist/
COPY --from=build /app/dist/assets dist/assets
USER node
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 CMD ["node", "dist/healthcheck.mjs", "api"]
CMD ["node", "--enable-source-maps", "dist/api.mjs"]

FROM runtime AS worker
# Metrics and health on 9464, reachable from other containers (publish the port only to a scraper's network).
ENV WORKER_METRICS_HOST=0.0.0.0
COPY --from=worker-dependencies /app/node_modules node_modules
COPY --from=build /app/dist/worker.mjs /app/dist/worker.mjs.map /app/dist/healthcheck.mjs dist/
USER node
EXPOSE 9464
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 CMD ["node", "dist/healthcheck.mjs", "worker"]
CMD ["node", "--enable-source-maps", "dist/worker.mjs"]
