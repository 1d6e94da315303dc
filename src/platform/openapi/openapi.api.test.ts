import request from 'supertest';
import { validate as validateOpenApi } from '@readme/openapi-parser';
import { createTestApp, type TestApp } from '../../../test/support/test-app';
import { routeTable } from './route-table';
import { toOpenApiPath } from '.';

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
    const documented = Object.entries(res.body.paths as Record<string, Record<string, unknown>>)
      .flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`))
      .sort();
    const served = [...new Set(routeTable(t.app).map((r) => `${r.method.toUpperCase()} ${toOpenApiPath(r.path)}`))].sort();
    expect(served.length).toBeGreaterThanOrEqual(6);
    expect(documented).toEqual(served);
  });

  it('when a route is added to Express without the documenting router, then the comparison notices', () => {
    const before = routeTable(t.app).length;
    t.app.get('/api/undocumented-probe', (_req, res) => {
      res.end();
    });
    const after = routeTable(t.app);
    expect(after.length).toBe(before + 1);
    expect(after.some((r) => r.path === '/api/undocumented-probe')).toBe(true);
  });
});
