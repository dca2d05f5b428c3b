# carebridge image: Node 24 LTS, production dependencies only, non-root.
# Build: docker build -t carebridge .    Run: docker run --rm carebridge demo
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
# The embedded SQLite store will live here (CAREBRIDGE_DATABASE, default sqlite:./data/carebridge.db).
RUN mkdir -p /app/data && chown node:node /app/data
USER node
# No HTTP server yet (it arrives with `carebridge serve`); its HEALTHCHECK on /healthz comes with it.
ENTRYPOINT ["node", "bin/carebridge.js"]
CMD ["demo"]
