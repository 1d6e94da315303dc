import { captureLogger } from '../../test/support/test-app';
import { runWithContext, setContextUserId } from './request-context';

describe('logger', () => {
  it('when a line is logged inside a request, then it carries the request id and, once known, the user id', () => {
    const { logger, lines } = captureLogger();
    runWithContext({ requestId: 'req-12345678' }, () => {
      logger.info('first.event');
      setContextUserId('user-1');
      logger.info('second.event', { n: 1 });
    });
    logger.info('outside.event');
    expect(lines[0]).toMatchObject({ message: 'first.event', requestId: 'req-12345678' });
    expect(lines[0]!.userId).toBeUndefined();
    expect(lines[1]).toMatchObject({ message: 'second.event', requestId: 'req-12345678', userId: 'user-1', n: 1 });
    expect(lines[2]!.requestId).toBeUndefined();
  });

  it('when metadata holds passwords, tokens, cookies or bodies, then their values never reach the output', () => {
    const { logger, text } = captureLogger();
    logger.info('auth.attempt', {
      email: 'a@example.com',
      password: 'hunter2-hunter2',
      headers: { authorization: 'Bearer eyJhbGciOi.secret', cookie: 'sid=abc' },
      body: { anything: 'private text' },
      nested: { apiKey: 'hk_live_123', refresh_token: 'rt-456' },
    });
    const out = text();
    for (const secret of ['hunter2', 'eyJhbGciOi', 'sid=abc', 'private text', 'hk_live_123', 'rt-456']) expect(out).not.toContain(secret);
    expect(out).toContain('a@example.com');
    expect(out).toContain('[redacted]');
  });

  it("when a database error carries the query's parameters, then the parameters are cut and the driver's reason kept", () => {
    const { logger, text } = captureLogger();
    const cause = Object.assign(new Error('duplicate key value violates unique constraint "users_email_key"'), { code: '23505' });
    const err = new Error(`Failed query: insert into users (email, password_hash) values ($1, $2)\nparams: victim@example.com,$2b$12$SECRETHASHVALUE`, { cause });
    logger.error('db.failed', { error: err });
    const out = text();
    expect(out).toContain('Failed query: insert into users');
    expect(out).toContain('users_email_key');
    expect(out).toContain('23505');
    expect(out).not.toContain('SECRETHASHVALUE');
    expect(out).not.toContain('victim@example.com');
  });

  it('when metadata counts tokens, then the counts stay visible; deep nesting is cut rather than leaked', () => {
    const { logger, lines } = captureLogger();
    logger.info('usage.recorded', { promptTokens: 12, total_tokens: 30, passwordHash: 'x', deep: { a: { b: { c: { d: { e: { password: 'p' } } } } } } });
    expect(lines[0]).toMatchObject({ promptTokens: 12, total_tokens: 30, passwordHash: '[redacted]' });
    expect(JSON.stringify(lines[0])).toContain('[truncated]');
  });
});
