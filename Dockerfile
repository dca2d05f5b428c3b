# carebridge image: the server (TypeScript run directly by Node 24, no build step) and the board
# (a web page built by `npm run build` into dist/), on Node 24 LTS, as the non-root user `node`.
# Build: docker build -t carebridge .
# Run:   docker run --rm -p 8080:8080 -v carebridge-data:/app/data -v "$PWD/carebridge.json:/config.json:ro" -e CAREBRIDGE_CONFIG=/config.json carebridge
#        (serve refuses to start without a client config, unless explicitly `serve --dev`)
# Several instances on PostgreSQL: docker-compose.yml.
# Kept in step with the code by test/docker/docker-files.test.ts: the paths copied, the npm scripts,
# the carebridge commands, the health route, the environment variables and the Node major.

# 1. Production dependencies, installed from the lockfile. The `node` devDependency that pins
#    Node 24 for developers is not needed here: the base image is Node 24.
FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# 2. The board: every dependency (its toolchain is devDependencies), then `npm run build` → dist/.
#    Only dist/ leaves this stage.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

# 3. The runtime image: production dependencies, the sources, the built board.
FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps --chown=node:node /app/node_modules ./node_modules
COPY --chown=node:node package.json ./
COPY --chown=node:node bin ./bin
COPY --chown=node:node src ./src
COPY --chown=node:node profiles ./profiles
COPY --chown=node:node fixtures/plans ./fixtures/plans
COPY --from=build --chown=node:node /app/dist ./dist
# The embedded SQLite store lives here unless CAREBRIDGE_DATABASE names a postgres:// URL.
RUN mkdir -p /app/data && chown node:node /app/data
VOLUME ["/app/data"]
ENV PORT=8080 \
    CAREBRIDGE_DATABASE=sqlite:/app/data/carebridge.db
EXPOSE 8080
USER node
# Is the process alive and answering (/readyz, which also asks the store, is for a load balancer).
# Node's own fetch: the slim image has no curl.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "bin/carebridge.js"]
CMD ["serve"]
