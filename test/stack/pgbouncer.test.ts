import { Client } from 'pg';
import crypto from 'node:crypto';
import { requireStack } from '../support/stack';

/**
 * PgBouncer in transaction mode hands each transaction whichever server connection is free, so
 * session state leaks between clients. Hearth relies on SET LOCAL staying inside its transaction.
 */
describe('through PgBouncer (transaction pooling)', () => {
  const stack = requireStack();
  let client: Client;

  beforeAll(async () => {
    client = new Client({ connectionString: stack.databaseUrl });
    await client.connect();
  });
  afterAll(async () => {
    await client.end();
  });

  /** Runs `query` until it lands on the server connection `pid` (PgBouncer reuses the last one first). */
  async function onBackend(pid: number, query: string): Promise<Record<string, unknown>> {
    for (let attempt = 0; attempt < 200; attempt++) {
      const c = new Client({ connectionString: stack.databaseUrl });
      await c.connect();
      try {
        const res = await c.query(query);
        if (res.rows[0].pid === pid) return res.rows[0] as Record<string, unknown>;
      } finally {
        await c.end();
      }
    }
    throw new Error(`never got server connection ${pid} back`);
  }

  it('when the app connects through PgBouncer, then it reaches PostgreSQL with pgvector 0.8.0', async () => {
    const res = await client.query(`SELECT extversion FROM pg_extension WHERE extname = 'vector'`);
    expect(res.rows[0].extversion).toBe('0.8.0');
    const show = await client.query('SHOW server_version');
    expect(show.rows[0].server_version).toMatch(/^15\./);
  });

  it('when SET LOCAL runs inside a transaction, then no later transaction on the same server connection sees it; a plain SET (the control) does leak', async () => {
    const localValue = `local-${crypto.randomBytes(4).toString('hex')}`;
    await client.query('BEGIN');
    await client.query(`SET LOCAL hearth.probe_local = '${localValue}'`);
    const inside = await client.query(`SELECT pg_backend_pid() AS pid, current_setting('hearth.probe_local', true) AS v`);
    await client.query('COMMIT');
    expect(inside.rows[0].v).toBe(localValue);
    const localPid = inside.rows[0].pid as number;
    const later = await onBackend(localPid, `SELECT pg_backend_pid() AS pid, current_setting('hearth.probe_local', true) AS v`);
    expect(later.v ?? '').not.toBe(localValue);

    const leakValue = `leak-${crypto.randomBytes(4).toString('hex')}`;
    const c = new Client({ connectionString: stack.databaseUrl });
    await c.connect();
    const set = await c.query(`SET hearth.probe_session = '${leakValue}'; SELECT pg_backend_pid() AS pid`);
    await c.end();
    const leakPid = (set as unknown as { rows: { pid: number }[] }[])[1]!.rows[0]!.pid;
    const leaked = await onBackend(leakPid, `SELECT pg_backend_pid() AS pid, current_setting('hearth.probe_session', true) AS v`);
    expect(leaked.v).toBe(leakValue);
  });

  it('when an HNSW setting is needed for one query, then SET LOCAL carries it through PgBouncer inside the transaction', async () => {
    await client.query('BEGIN');
    await client.query(`SET LOCAL hnsw.ef_search = 123`);
    await client.query(`SET LOCAL hnsw.iterative_scan = relaxed_order`);
    const res = await client.query(`SELECT current_setting('hnsw.ef_search') AS ef, current_setting('hnsw.iterative_scan') AS scan`);
    await client.query('COMMIT');
    expect(res.rows[0]).toEqual({ ef: '123', scan: 'relaxed_order' });
  });
});
