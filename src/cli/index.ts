#!/usr/bin/env node
import '../instrument';
import { Command } from 'commander';
import { loadConfig, ConfigError } from '../config';
import { renderAppEnvExample } from '../config/env-example';
import { createLogger } from '../platform/logger';
import { createDatabase } from '../platform/db/client';
import { runMigrations } from '../platform/db/migrate';
import { packageVersion } from '../platform/paths';
import path from 'node:path';

function config() {
  try {
    return loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`hearth: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
}

const program = new Command();
program.name('hearth').description('Hearth command line').version(packageVersion());

program
  .command('migrate')
  .description('Apply pending database migrations (over MIGRATION_DATABASE_URL when set), then exit')
  .action(async () => {
    const cfg = config();
    const logger = createLogger({ level: cfg.logLevel });
    if (cfg.db.migrationUrl) {
      const { applied } = await runMigrations({ url: cfg.db.migrationUrl }, logger);
      process.stdout.write(`migrations applied: ${applied}\n`);
      return;
    }
    const database = await createDatabase({ poolMax: 1, statementTimeoutMs: cfg.db.statementTimeoutMs, pgliteDataDir: path.join(cfg.dataDir, 'pglite'), logger });
    try {
      const { applied } = await runMigrations({ pglite: database.pglite! }, logger);
      process.stdout.write(`migrations applied: ${applied}\n`);
    } finally {
      await database.close();
    }
  });

const configCmd = program.command('config').description('Configuration helpers');
configCmd
  .command('check')
  .description('Validate the environment and exit 0, or name every bad variable and exit 1')
  .action(() => {
    config();
    process.stdout.write('configuration ok\n');
  });
configCmd
  .command('env-example')
  .description("Print the app's part of .env.example, generated from the configuration schema")
  .action(() => {
    process.stdout.write(renderAppEnvExample());
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`hearth: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
