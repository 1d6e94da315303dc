import './instrument';
import { inspect } from 'node:util';
import * as Sentry from '@sentry/node';
import { loadConfig, ConfigError, type Config } from './config';
import { startServer, type RunningServer } from './server';
import { createLogger } from './platform/logger';
import { DatabaseLockedError } from './platform/db/client';

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`hearth: ${err.message}\nFix the variables above (see .env.example) and start again.\n`);
      process.exit(1);
    }
    throw err;
  }
  const logger = createLogger({ level: config.logLevel });
  process.on('unhandledRejection', (reason) => logger.error('process.unhandled-rejection', { error: reason instanceof Error ? reason : String(reason) }));

  // Installed before start: a SIGTERM during migrations or connection set-up waits for start to
  // finish (or fail) and then shuts down cleanly instead of killing the process mid-migration.
  let running: RunningServer | undefined;
  let stopRequested: string | undefined;
  const onSignal = (signal: string) => {
    if (!running) {
      stopRequested ??= signal;
      return;
    }
    running.shutdown(signal).then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error('server.shutdown.failed', { error: err instanceof Error ? err : String(err) });
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  process.once('SIGINT', () => onSignal('SIGINT'));
  // PM2 can deliver shutdown as a message (shutdown_with_message).
  process.on('message', (msg) => {
    if (msg === 'shutdown') onSignal('message');
  });

  try {
    running = await startServer(config, logger);
  } catch (err) {
    const message = err instanceof Error ? err.message : inspect(err);
    if (err instanceof DatabaseLockedError) process.stderr.write(`hearth: ${message}\n`);
    logger.error('server.start.failed', { error: err instanceof Error ? err : message });
    await Sentry.close(2_000).catch(() => undefined);
    // Let the logger flush before exiting.
    setTimeout(() => process.exit(1), 50);
    return;
  }
  if (stopRequested) onSignal(stopRequested);
}

void main();
