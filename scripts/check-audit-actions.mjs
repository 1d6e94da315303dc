// After the test suite has run against PostgreSQL: the audit log must show every security-relevant
// action issues #3 and #4 list. Reads TEST_MIGRATION_DATABASE_URL (or TEST_DATABASE_URL).
import pg from 'pg';

const REQUIRED = [
  'auth.login.success', 'auth.login.failure', 'auth.login.locked', 'auth.login.lockout', 'auth.logout',
  'auth.refresh.reuse', 'auth.password.change', 'auth.password.reset', 'auth.email.verify',
  'auth.2fa.enable', 'auth.2fa.disable', 'auth.2fa.recovery-used', 'auth.session.revoke',
  'auth.api-key.create', 'auth.api-key.revoke',
  'user.create', 'user.invite', 'user.disable', 'user.enable', 'user.role-change', 'user.delete',
  'kb.create', 'kb.delete', 'kb.visibility-change', 'kb.reindex',
  // kb.job.cancel is asserted by its tests, which run on databases of their own (no worker may race them).
  'kb.entry.create', 'kb.entry.revise', 'kb.entry.restore', 'kb.entry.delete',
];
const url = process.env.TEST_MIGRATION_DATABASE_URL ?? process.env.TEST_DATABASE_URL;
if (!url) {
  console.error('check-audit-actions: set TEST_MIGRATION_DATABASE_URL (scripts/test-stack.sh env)');
  process.exit(2);
}
const client = new pg.Client({ connectionString: url });
await client.connect();
const { rows } = await client.query('SELECT action, count(*)::int AS n FROM audit_logs GROUP BY action ORDER BY action');
await client.end();
const seen = new Map(rows.map((r) => [r.action, r.n]));
for (const a of REQUIRED) console.log(`${seen.has(a) ? 'ok     ' : 'MISSING'} ${a}${seen.has(a) ? ` (${seen.get(a)})` : ''}`);
const missing = REQUIRED.filter((a) => !seen.has(a));
if (missing.length) {
  console.error(`audit log lacks: ${missing.join(', ')}`);
  process.exit(1);
}
// No secret may ever be in it: no column or metadata value that looks like a token we issue.
const leaks = rows.length ? await (async () => {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  const r = await c.query(`SELECT count(*)::int AS n FROM audit_logs WHERE metadata::text ~ '(hk_[A-Za-z0-9_-]{20,}|eyJ[A-Za-z0-9_-]{10,}\\.|\\$2[aby]\\$)'`);
  await c.end();
  return r.rows[0].n;
})() : 0;
if (leaks > 0) {
  console.error(`audit log holds ${leaks} row(s) with what looks like a secret`);
  process.exit(1);
}
console.log('audit log: every listed action present, no secrets');
