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
import readline from 'node:readline';
import { AuditService } from '../platform/audit/audit.service';
import { createAuthModule } from '../modules/auth';
import { createKnowledgeBaseModule } from '../modules/knowledge-base';
import { createJobQueue } from '../platform/jobs/queue';
import { SingleBar, Presets } from 'cli-progress';

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

/** Opens the database (migrated) and the auth module, runs `fn`, closes everything. */
async function withAuth<T>(fn: (auth: ReturnType<typeof createAuthModule>) => Promise<T>): Promise<T> {
  const cfg = config();
  const logger = createLogger({ level: 'warn' });
  const database = await createDatabase({ url: cfg.db.url, poolMax: 1, statementTimeoutMs: cfg.db.statementTimeoutMs, pgliteDataDir: path.join(cfg.dataDir, 'pglite'), logger });
  try {
    await runMigrations(database.pglite ? { pglite: database.pglite } : { url: cfg.db.migrationUrl! }, logger);
    return await fn(createAuthModule({ config: cfg, db: database.db, logger, audit: new AuditService(database.db, logger) }));
  } finally {
    await database.close();
  }
}

/** A password from stdin (--password-stdin, for scripts) or typed at a hidden prompt. */
async function readPassword(fromStdin: boolean, prompt: string): Promise<string> {
  if (fromStdin || !process.stdin.isTTY) {
    let data = '';
    for await (const chunk of process.stdin) data += String(chunk);
    return data.replace(/\r?\n$/, '');
  }
  const rl = readline.createInterface({ input: process.stdin, output: process.stdout, terminal: true });
  // Echo nothing while the password is typed.
  (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = (s: string) => {
    if (s.startsWith(prompt)) process.stdout.write(prompt);
  };
  const answer = await new Promise<string>((resolve) => rl.question(prompt, resolve));
  rl.close();
  process.stdout.write('\n');
  return answer;
}

const admin = program.command('admin').description('Accounts');
admin
  .command('create')
  .description('Create an admin account (password from a hidden prompt or --password-stdin)')
  .requiredOption('--email <email>', 'email address')
  .option('--name <name>', 'display name', 'Administrator')
  .option('--member', 'create a member instead of an admin')
  .option('--password-stdin', 'read the password from standard input')
  .action(async (opts: { email: string; name: string; member?: boolean; passwordStdin?: boolean }) => {
    const password = await readPassword(Boolean(opts.passwordStdin), 'Password: ');
    const user = await withAuth((auth) => auth.service.createUser({ email: opts.email, name: opts.name, role: opts.member ? 'member' : 'admin', password }, { type: 'system' }));
    process.stdout.write(`created ${user.role} ${user.email} (${user.id})\n`);
  });
admin
  .command('reset-password')
  .description("Set a new password for an account and end all of its sessions")
  .requiredOption('--email <email>', 'email address')
  .option('--password-stdin', 'read the password from standard input')
  .action(async (opts: { email: string; passwordStdin?: boolean }) => {
    const password = await readPassword(Boolean(opts.passwordStdin), 'New password: ');
    const { revokedSessions } = await withAuth((auth) => auth.service.resetPassword(opts.email, password, { type: 'system' }));
    process.stdout.write(`password reset for ${opts.email}; ${revokedSessions} session(s) ended\n`);
  });

const kb = program.command('kb').description('Knowledge bases');
kb.command('import')
  .description('Import every supported file of a folder (txt, md, html, pdf, docx, csv, json) into a knowledge base; unchanged files are skipped on later runs')
  .argument('<knowledge-base>', 'id or name of the knowledge base')
  .argument('<folder>', 'folder to import (recursively)')
  .requiredOption('--as <email>', 'account the import acts as (needs write access to the knowledge base)')
  .action(async (kbRef: string, folder: string, opts: { as: string }) => {
    const cfg = config();
    const logger = createLogger({ level: 'warn' });
    const database = await createDatabase({ url: cfg.db.url, poolMax: 3, statementTimeoutMs: cfg.db.statementTimeoutMs, pgliteDataDir: path.join(cfg.dataDir, 'pglite'), logger });
    const stop = new AbortController();
    const queue = createJobQueue(database, logger);
    // This process indexes too, so the import finishes even when no server runs (PGlite: none can).
    const module = createKnowledgeBaseModule({ config: { ...cfg, ingest: { ...cfg.ingest, workers: Math.max(1, cfg.ingest.workers) } }, database, audit: new AuditService(database.db, logger), logger, queue, signal: stop.signal });
    const bar = new SingleBar({ format: ' {phase} [{bar}] {value}/{total}', hideCursor: true, noTTYOutput: true, notTTYSchedule: 1000 }, Presets.shades_classic);
    let phase = '';
    try {
      await runMigrations(database.pglite ? { pglite: database.pglite } : { url: cfg.db.migrationUrl! }, logger);
      await queue.start();
      await module.start();
      const p = await createAuthModule({ config: cfg, db: database.db, logger, audit: new AuditService(database.db, logger) }).service.principalForEmail(opts.as);
      const report = await module.importFolder(p, kbRef, folder, (pr) => {
        if (pr.phase !== phase) {
          if (phase) bar.stop();
          phase = pr.phase;
          bar.start(pr.total, 0, { phase: pr.phase === 'files' ? 'files   ' : 'indexing' });
        }
        bar.update(pr.done);
      });
      if (phase) bar.stop();
      process.stdout.write(`imported into ${report.kbId}: ${report.created} new, ${report.updated} updated, ${report.unchanged} unchanged, ${report.skipped} skipped (not a supported type), ${report.failed.length} refused; indexing: ${report.jobs.succeeded} done, ${report.jobs.failed} failed\n`);
      for (const f of report.failed) process.stdout.write(`  refused ${f.file}: ${f.message} (${f.code})\n`);
      if (report.failed.length > 0 || report.jobs.failed > 0) process.exitCode = 1;
    } finally {
      bar.stop();
      stop.abort();
      await module.stop();
      await queue.stop();
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
