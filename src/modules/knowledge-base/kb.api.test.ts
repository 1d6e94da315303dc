import request from 'supertest';
import { createTestApp, type TestApp } from '../../../test/support/test-app';
import { auditRows, createUser } from '../../../test/support/auth';

describe('knowledge bases API', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ CREDENTIAL_RATE_LIMIT_MAX: '10000', KB_LANGUAGE: 'english', EMBEDDING_DIMENSIONS: '384' });
  });
  afterAll(() => t.close());

  async function person(role: 'admin' | 'member' = 'member') {
    const u = await createUser(t, { role });
    const tok = (await request(t.app).post('/api/auth/token').send({ email: u.email, password: u.password })).body.access_token as string;
    return { u, auth: { Authorization: `Bearer ${tok}` } };
  }

  it('when a member creates a knowledge base, then it is theirs, private by default, with the embedding fixed from configuration', async () => {
    const { u, auth } = await person();
    const res = await request(t.app).post('/api/knowledge-bases').set(auth).send({ name: "O'Reilly's handbook", description: 'How we work' });
    expect(res.status).toBe(201);
    expect(res.body.knowledgeBase).toMatchObject({
      name: "O'Reilly's handbook",
      visibility: 'private',
      ownerId: u.id,
      embedding: { provider: 'local', model: 'hashing-v2', dimensions: 384 },
      language: 'english',
      entries: 0,
      chunks: 0,
      canWrite: true,
    });
    const german = await request(t.app).post('/api/knowledge-bases').set(auth).send({ name: 'Handbuch', language: 'german' });
    expect(german.body.knowledgeBase.language).toBe('german');
    const bad = await request(t.app).post('/api/knowledge-bases').set(auth).send({ name: '', language: 'klingon', embedding: 'x' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.map((d: { field: string }) => d.field).sort()).toEqual(['body.language', 'body.name']);
    expect(await auditRows(t, { action: 'kb.create', targetId: res.body.knowledgeBase.id })).toHaveLength(1);
  });

  it("when someone asks for another person's private knowledge base, then it answers 404 everywhere, exactly like a missing one", async () => {
    const owner = await person();
    const other = await person();
    const kb = (await request(t.app).post('/api/knowledge-bases').set(owner.auth).send({ name: 'Private notes' })).body.knowledgeBase;
    const missing = '00000000-0000-4000-8000-000000000000';
    for (const id of [kb.id, missing]) {
      const get = await request(t.app).get(`/api/knowledge-bases/${id}`).set(other.auth);
      expect([get.status, get.body.error.code]).toEqual([404, 'knowledge-base-not-found']);
      expect((await request(t.app).patch(`/api/knowledge-bases/${id}`).set(other.auth).send({ name: 'x' })).status).toBe(404);
      expect((await request(t.app).delete(`/api/knowledge-bases/${id}`).set(other.auth)).status).toBe(404);
    }
    const list = await request(t.app).get('/api/knowledge-bases').set(other.auth);
    expect(list.body.knowledgeBases.map((k: { id: string }) => k.id)).not.toContain(kb.id);
    expect((await request(t.app).get(`/api/knowledge-bases/${kb.id}`).set(owner.auth)).status).toBe(200);
  });

  it('when a knowledge base is organization-wide, then everyone reads it, only the owner and admins change it, and the switch is audited', async () => {
    const owner = await person();
    const reader = await person();
    const admin = await person('admin');
    const kb = (await request(t.app).post('/api/knowledge-bases').set(owner.auth).send({ name: 'Company policies' })).body.knowledgeBase;
    const shared = await request(t.app).patch(`/api/knowledge-bases/${kb.id}`).set(owner.auth).send({ visibility: 'organization' });
    expect(shared.body.knowledgeBase.visibility).toBe('organization');
    const seen = await request(t.app).get(`/api/knowledge-bases/${kb.id}`).set(reader.auth);
    expect(seen.body.knowledgeBase).toMatchObject({ id: kb.id, canWrite: false });
    expect((await request(t.app).get('/api/knowledge-bases').set(reader.auth)).body.knowledgeBases.map((k: { id: string }) => k.id)).toContain(kb.id);
    const denied = await request(t.app).patch(`/api/knowledge-bases/${kb.id}`).set(reader.auth).send({ name: 'Mine now' });
    expect([denied.status, denied.body.error.code]).toEqual([403, 'knowledge-base-read-only']);
    expect((await request(t.app).delete(`/api/knowledge-bases/${kb.id}`).set(reader.auth)).status).toBe(403);
    expect((await request(t.app).patch(`/api/knowledge-bases/${kb.id}`).set(admin.auth).send({ description: 'Curated by IT' })).body.knowledgeBase.description).toBe('Curated by IT');
    const [change] = await auditRows(t, { action: 'kb.visibility-change', targetId: kb.id });
    expect(change!.metadata).toEqual({ from: 'private', to: 'organization' });
    expect((await request(t.app).delete(`/api/knowledge-bases/${kb.id}`).set(admin.auth)).status).toBe(204);
    expect((await request(t.app).get(`/api/knowledge-bases/${kb.id}`).set(owner.auth)).status).toBe(404);
  });

  it('when an API key calls, then it needs the knowledge-bases scope', async () => {
    const { auth } = await person();
    const chatOnly = (await request(t.app).post('/api/keys').set(auth).send({ name: 'chat', scopes: ['chat'] })).body.secret;
    const kbKey = (await request(t.app).post('/api/keys').set(auth).send({ name: 'kb', scopes: ['knowledge-bases'] })).body.secret;
    const refused = await request(t.app).get('/api/knowledge-bases').set('Authorization', `Bearer ${chatOnly}`);
    expect([refused.status, refused.body.error.code]).toEqual([403, 'api-key-scope']);
    const created = await request(t.app).post('/api/knowledge-bases').set('Authorization', `Bearer ${kbKey}`).send({ name: 'From a script' });
    expect(created.status).toBe(201);
  });

  it('when a field is unknown or over its limit on update, then 400 names it and nothing changes', async () => {
    const { auth } = await person();
    const kb = (await request(t.app).post('/api/knowledge-bases').set(auth).send({ name: 'Stable' })).body.knowledgeBase;
    const res = await request(t.app).patch(`/api/knowledge-bases/${kb.id}`).set(auth).send({ name: 'n'.repeat(201), embeddingModel: 'other' });
    expect(res.status).toBe(400);
    expect((await request(t.app).get(`/api/knowledge-bases/${kb.id}`).set(auth)).body.knowledgeBase).toMatchObject({ name: 'Stable', embedding: { model: 'hashing-v2' } });
  });

  it('when someone searches, then their own or organization-wide knowledge bases answer; others\' private ones 404; an empty query is a 400', async () => {
    const owner = await person();
    const other = await person();
    const kb = (await request(t.app).post('/api/knowledge-bases').set(owner.auth).send({ name: 'Searchable' })).body.knowledgeBase;
    const res = await request(t.app).get(`/api/knowledge-bases/${kb.id}/search`).set(owner.auth).query({ q: 'anything at all', k: 5 });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ hits: [], plan: 'exact' });
    expect((await request(t.app).get(`/api/knowledge-bases/${kb.id}/search`).set(other.auth).query({ q: 'anything' })).status).toBe(404);
    const empty = await request(t.app).get(`/api/knowledge-bases/${kb.id}/search`).set(owner.auth).query({ q: '  ' });
    expect([empty.status, empty.body.error.details[0].field]).toEqual([400, 'query.q']);
    await request(t.app).patch(`/api/knowledge-bases/${kb.id}`).set(owner.auth).send({ visibility: 'organization' });
    expect((await request(t.app).get(`/api/knowledge-bases/${kb.id}/search`).set(other.auth).query({ q: 'anything' })).status).toBe(200);
  });
});
