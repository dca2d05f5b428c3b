# carebridge image: Node 24 LTS, production dependencies only, non-root.
# Build: docker build -t carebridge .
# Run:   docker run --rm -p 8080:8080 -v carebridge-data:/app/data -v "$PWD/carebridge.json:/config.json:ro" -e CAREBRIDGE_CONFIG=/config.json carebridge
#        (serve refuses to start without a client config, unless explicitly `serve --dev`)
# (keep in step with README.md: same commands, same Node major as package.json "engines")

# 1. Production dependencies, installed from the lockfile. The `node` devDependency that pins
#    Node 24 for developers is not needed here: the base image is Node 24.
FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# 2. The runtime image: sources run directly by Node 24 (type stripping), no build step.
FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps --chown=node:node /app/node_modules ./node_modules
COPY --chown=node:node package.json ./
COPY --chown=node:node bin ./bin
COPY --chown=node:node src ./src
COPY --chown=node:node profiles ./profiles
COPY --chown=node:node fixtures/plans ./fixtures/plans
# The embedded SQLite store lives here unless CAREBRIDGE_DATABASE names a postgres:// URL.
RUN mkdir -p /app/data && chown node:node /app/data
VOLUME ["/app/data"]
ENV PORT=8080 \
    CAREBRIDGE_DATABASE=sqlite:/app/data/carebridge.db
EXPOSE 8080
USER node
# Node's own fetch: the slim image has no curl.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "bin/carebridge.js"]
CMD ["serve"]
