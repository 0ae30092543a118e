# syntax=docker/dockerfile:1
# Atrium: one container serving the API and running background work (ATRIUM_ROLE=all).
# Needs APP_KEY and DATABASE_URL at run time (see compose.yaml).

FROM node:24-slim AS build
WORKDIR /src
# patches/: applied by npm's postinstall (patch-package), so it is needed before installing.
COPY package.json package-lock.json ./
COPY patches ./patches
RUN npm ci --no-audit --no-fund
COPY . .
RUN node ace build

FROM node:24-slim AS runtime
# MALLOC_MMAP_THRESHOLD_: a login hashes with scrypt (16 MiB of work memory) on
# libuv's threads; with glibc's adaptive threshold those blocks end up in the
# threads' malloc arenas and stay there, so resident memory climbs with logins.
# A fixed 128 KiB threshold maps them and gives them back on free.
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3333 \
    LOG_LEVEL=info \
    MALLOC_MMAP_THRESHOLD_=131072
WORKDIR /app
COPY --from=build /src/build/package.json /src/build/package-lock.json ./
COPY --from=build /src/patches ./patches
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /src/build ./
RUN mkdir -p storage tmp && chown -R node:node storage tmp
USER node
EXPOSE 3333
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s \
  CMD node -e "fetch('http://127.0.0.1:'+process.env.PORT+'/health/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# SIGTERM drains in-flight requests before exiting (app/platform/shutdown.ts).
# A 32 MiB young generation: see app/platform/http_entry.ts (memory under load, bench:memory).
CMD ["node", "--max-semi-space-size=32", "bin/server.js"]
