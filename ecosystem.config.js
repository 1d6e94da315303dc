// Hearth under PM2 (an alternative to Compose for running several app processes on one host).
//
//   npm ci && npm run build
//   node dist/src/cli/index.js migrate              # once per deploy, before (re)starting
//   pm2 start ecosystem.config.js --env production
//   pm2 reload hearth                                # zero-downtime restart, one process at a time
//
// WEB_CONCURRENCY sets the number of processes (default: one per CPU core). Run with RUN_MIGRATIONS=false
// when migrations are run as above. Every process needs REDIS_URL for shared rate limits and caches.
'use strict';

const instances = Number.parseInt(process.env.WEB_CONCURRENCY ?? '', 10);

module.exports = {
  apps: [
    {
      name: 'hearth',
      cwd: __dirname,
      script: 'dist/src/main.js',
      exec_mode: 'cluster',
      instances: Number.isFinite(instances) && instances > 0 ? instances : 'max',
      max_memory_restart: '512M',
      // Longer than the app's SHUTDOWN_TIMEOUT_MS (default 25000): PM2 sends SIGINT, then waits this
      // long before SIGKILL, so in-flight requests and streams can finish.
      kill_timeout: 35000,
      // Time allowed for a new process to start listening before PM2 counts it as started.
      listen_timeout: 15000,
      exp_backoff_restart_delay: 200,
      max_restarts: 20,
      merge_logs: true,
      time: true,
      env: {
        NODE_ENV: 'development',
      },
      env_production: {
        NODE_ENV: 'production',
      },
    },
  ],
};
