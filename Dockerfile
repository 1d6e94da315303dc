# Hearth images. Targets:
#   app    the Node app (also runs the one-shot migrations: node dist/src/cli/index.js migrate)
#   nginx  TLS edge: serves the built web UI, proxies /api, /v1 and /health to the app
#
#   docker build --target app   -t hearth/app:local .
#   docker build --target nginx -t hearth/nginx:local .
# (docker-compose.yml builds both.)

ARG NODE_IMAGE=node:24.11.1-bookworm-slim
ARG NGINX_IMAGE=nginx:1.28.0-bookworm

# ---------------------------------------------------------------------------------------------------
# build: all dependencies, compile the server (tsc -> dist/src) and the web UI (vite -> dist/web)
# ---------------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
ENV npm_config_update_notifier=false \
    npm_config_fund=false \
    npm_config_audit=false
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
RUN npm run build

# ---------------------------------------------------------------------------------------------------
# prod-deps: production dependencies only
# ---------------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /app
ENV npm_config_update_notifier=false \
    npm_config_fund=false \
    npm_config_audit=false
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force

# ---------------------------------------------------------------------------------------------------
# app: the runtime image (non-root)
# ---------------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS app
ENV NODE_ENV=production \
    PORT=3000
WORKDIR /app
# Code and dependencies stay owned by root (read-only for the app); only data/ is writable.
COPY package.json package-lock.json ./
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY migrations ./migrations
RUN mkdir -p /app/data && chown node:node /app/data
USER node
EXPOSE 3000
# Longer than the app's SHUTDOWN_TIMEOUT_MS (default 25000) is set by Compose (stop_grace_period).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/health/live').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "dist/src/main.js"]

# ---------------------------------------------------------------------------------------------------
# nginx: static web UI + reverse proxy + TLS (self-signed certificate on first start if none mounted)
# ---------------------------------------------------------------------------------------------------
FROM ${NGINX_IMAGE} AS nginx
# The Debian-based image has openssl (via ca-certificates); install it should a future tag drop it.
RUN if ! command -v openssl >/dev/null 2>&1; then \
        apt-get update && apt-get install -y --no-install-recommends openssl && rm -rf /var/lib/apt/lists/*; \
    fi
COPY nginx/nginx.conf /etc/nginx/nginx.conf
COPY nginx/security-headers.conf /etc/nginx/hearth/security-headers.conf
COPY nginx/gen-cert.sh /docker-entrypoint.d/40-hearth-gen-cert.sh
RUN chmod 0755 /docker-entrypoint.d/40-hearth-gen-cert.sh \
    && rm -f /etc/nginx/conf.d/default.conf \
    && mkdir -p /etc/nginx/certs /var/cache/nginx \
    && rm -rf /usr/share/nginx/html/*
COPY --from=build /app/dist/web /usr/share/nginx/html
EXPOSE 80 443
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
    CMD ["curl", "-fsSk", "-o", "/dev/null", "https://127.0.0.1/index.html"]
