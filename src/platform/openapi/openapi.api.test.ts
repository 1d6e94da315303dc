import request from 'supertest';
import { validate as validateOpenApi } from '@readme/openapi-parser';
import { createTestApp, type TestApp } from '../../../test/support/test-app';
import { routeTable } from './route-table';
import { toOpenApiPath } from '.';

/** Routes served but not documented, and documented but not served. */
function mismatches(app: TestApp['app'], doc: { paths: Record<string, Record<string, unknown>> }) {
  const documented = new Set(Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`)));
  const served = new Set(routeTable(app).map((r) => `${r.method.toUpperCase()} ${toOpenApiPath(r.path)}`));
  return { undocumented: [...served].filter((r) => !documented.has(r)).sort(), unserved: [...documented].filter((r) => !served.has(r)).sort(), served };
}

describe('OpenAPI document', () => {
  let t: TestApp;
  beforeAll(async () => {
    // Diagnostics on, so every route the app can serve is in the table.
    t = await createTestApp({ DIAGNOSTICS_ROUTES: 'true' });
  });
  afterAll(() => t.close());

  it('when fetched, then /api/openapi.json is a valid OpenAPI 3.1 document', async () => {
    const res = await request(t.app).get('/api/openapi.json');
    expect(res.status).toBe(200);
    expect(res.body.openapi).toBe('3.1.0');
    const result = await validateOpenApi(structuredClone(res.body));
    expect('errors' in result ? result.errors : []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it("when compared with Express' route table, then every served route is documented and every documented route is served", async () => {
    const res = await request(t.app).get('/api/openapi.json');
    const m = mismatches(t.app, res.body);
    expect(m.served.size).toBeGreaterThanOrEqual(7);
    expect(m.undocumented).toEqual([]);
    expect(m.unserved).toEqual([]);
  });

  it('when a route is added to Express without the documenting router, then the comparison reports it', async () => {
    const other = await createTestApp({ DIAGNOSTICS_ROUTES: 'true' }, { database: t.database });
    try {
      other.app.get('/api/undocumented-probe/:id', (_req, res) => {
        res.end();
      });
      const res = await request(other.app).get('/api/openapi.json');
      expect(mismatches(other.app, res.body).undocumented).toEqual(['GET /api/undocumented-probe/{id}']);
    } finally {
      await other.close();
    }
  });
});
