import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import zlib from 'node:zlib';
import { AppError } from '../errors';
import { isForbiddenAddress, safeFetch, type SafeFetchOptions } from './safe-fetch';

/**
 * Nothing here may leave loopback. Every outgoing socket (net.connect, http, tls.connect all end in
 * Socket.prototype.connect) is recorded, and the recorder refuses for real any destination that is
 * not loopback, so even a broken safeFetch cannot reach 10.0.0.1 or the metadata service.
 */
interface Attempt {
  host: string;
  port: number;
  /** What a custom `lookup` handed the socket, when the host was a name. */
  resolvedTo?: string[];
}
const attempts: Attempt[] = [];
const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);
const realConnect = net.Socket.prototype.connect;
let connectSpy: jest.SpyInstance;

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | { address: string }[], family?: number) => void;
interface ConnectOptions {
  host?: string;
  port?: number | string;
  path?: string;
  lookup?: (host: string, options: object, cb: LookupCallback) => void;
}

function connectOptions(args: unknown[]): ConnectOptions {
  // net.createConnection passes its normalised [options, callback] array as the first argument.
  const first = Array.isArray(args[0]) ? args[0][0] : args[0];
  if (first && typeof first === 'object') return first as ConnectOptions;
  return { port: first as number, host: typeof args[1] === 'string' ? args[1] : undefined };
}

function guardedConnect(this: net.Socket, ...args: unknown[]): net.Socket {
  const options = connectOptions(args);
  if (options.path) return realConnect.apply(this, args as never);
  const attempt: Attempt = { host: options.host ?? 'localhost', port: Number(options.port) };
  attempts.push(attempt);
  if (net.isIP(attempt.host) && !LOOPBACK.has(attempt.host)) throw new Error(`test guard: refused a real connection to ${attempt.host}:${attempt.port}`);
  const lookup = options.lookup;
  if (lookup) {
    options.lookup = (host, lookupOptions, cb) =>
      lookup(host, lookupOptions, (err, address, family) => {
        const list = Array.isArray(address) ? address.map((a) => a.address) : [address];
        attempt.resolvedTo = list;
        const outside = list.find((a) => !LOOPBACK.has(a));
        if (outside) return cb(new Error(`test guard: refused a real connection to ${outside}`), address, family);
        cb(err, address, family);
      });
  }
  return realConnect.apply(this, args as never);
}

beforeAll(() => {
  connectSpy = jest.spyOn(net.Socket.prototype, 'connect').mockImplementation(guardedConnect as never);
});
afterAll(() => connectSpy.mockRestore());
beforeEach(() => {
  attempts.length = 0;
});

interface TestServer {
  port: number;
  origin: string;
  connections: number;
  requests: http.IncomingMessage[];
  /** Resolves when the server side of the (first) connection is closed. */
  socketClosed: Promise<void>;
  close(): Promise<void>;
}

async function startServer(handler: http.RequestListener, host = '127.0.0.1'): Promise<TestServer> {
  const server = http.createServer((req, res) => {
    state.requests.push(req);
    handler(req, res);
  });
  let markClosed!: () => void;
  const state: TestServer = {
    port: 0,
    origin: '',
    connections: 0,
    requests: [],
    socketClosed: new Promise<void>((resolve) => (markClosed = resolve)),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  server.on('connection', (socket) => {
    state.connections++;
    socket.once('close', () => markClosed());
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  state.port = (server.address() as AddressInfo).port;
  state.origin = `http://${host.includes(':') ? `[${host}]` : host}:${state.port}`;
  return state;
}

const servers: TestServer[] = [];
async function serve(handler: http.RequestListener, host?: string): Promise<TestServer> {
  const s = await startServer(handler, host);
  servers.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const document = Buffer.from('# Handbook\n\nWelcome to the team.\n', 'utf8');
const serveDocument: http.RequestListener = (_req, res) => {
  res.writeHead(200, { 'content-type': 'text/markdown; charset=utf-8' });
  res.end(document);
};

const LOCAL: Pick<SafeFetchOptions, 'allowCidrs'> = { allowCidrs: ['127.0.0.1/32'] };
const base: SafeFetchOptions = { maxBytes: 1_000_000, timeoutMs: 5_000 };
const noDns = () => jest.fn(async (host: string): Promise<{ address: string; family: 4 | 6 }[]> => {
  throw new Error(`test guard: nothing should resolve ${host}`);
});

async function failure(promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
  throw new Error('expected safeFetch to fail');
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

describe('safeFetch: refused before any connection is opened', () => {
  it('when the URL is loopback by IP (127.0.0.1 or [::1]), then it is refused and the local server never sees a connection', async () => {
    const v4 = await serve(serveDocument);
    const v6 = await serve(serveDocument, '::1');
    const resolve = noDns();

    for (const url of [`${v4.origin}/`, `${v6.origin}/`]) {
      const err = await failure(safeFetch(url, { ...base, resolve }));
      expect(err).toMatchObject({ status: 400, code: 'url-not-allowed' });
      expect(err.message).toMatch(/loopback/);
    }
    expect(v4.connections).toBe(0);
    expect(v6.connections).toBe(0);
    expect(attempts).toEqual([]);
    expect(resolve).not.toHaveBeenCalled();
  });

  it('when the URL is http://localhost:PORT/, then the real lookup answers loopback and nothing connects', async () => {
    const server = await serve(serveDocument);
    const err = await failure(safeFetch(`http://localhost:${server.port}/`, base));
    expect(err).toMatchObject({ status: 400, code: 'url-not-allowed', details: { host: 'localhost', reason: 'loopback' } });
    expect(err.message).toMatch(/localhost resolves to a loopback address/);
    expect(server.connections).toBe(0);
    expect(attempts).toEqual([]);
  });

  it.each([
    ['http://10.0.0.1/', 'private'],
    ['http://172.16.5.4:8080/wiki', 'private'],
    ['http://192.168.1.1/', 'private'],
    ['http://169.254.169.254/latest/meta-data/', 'link-local'],
    ['http://[::ffff:169.254.169.254]/', 'link-local'],
    ['http://2130706433/', 'loopback'],
    ['http://0x7f000001/', 'loopback'],
    ['http://127.1/', 'loopback'],
    ['http://0177.0.0.1/', 'loopback'],
    ['http://[::ffff:127.0.0.1]/', 'loopback'],
    ['http://0.0.0.0/', 'unspecified'],
    ['http://100.64.0.1/', 'carrier-grade NAT'],
    ['http://255.255.255.255/', 'broadcast'],
    ['http://224.0.0.1/', 'multicast'],
    ['http://[fe80::1]/', 'link-local'],
    ['http://[fd00::1]/', 'private'],
    ['https://[64:ff9b::a9fe:a9fe]/', 'link-local'],
    ['http://[2002:a00:1::1]/', 'private'],
  ])('when the URL is %s, then it is refused as %s without DNS or a connection', async (url, reason) => {
    const resolve = noDns();
    const err = await failure(safeFetch(url, { ...base, resolve }));
    expect(err).toMatchObject({ status: 400, code: 'url-not-allowed', details: { reason } });
    expect(attempts).toEqual([]);
    expect(resolve).not.toHaveBeenCalled();
  });

  it.each(['http://metadata.google.internal/computeMetadata/v1/', 'http://METADATA.google.internal./', 'http://metadata/'])(
    'when the URL names the metadata host (%s), then it is refused before resolving',
    async (url) => {
      const resolve = noDns();
      const err = await failure(safeFetch(url, { ...base, resolve }));
      expect(err).toMatchObject({ status: 400, code: 'url-not-allowed', details: { reason: 'metadata' } });
      expect(resolve).not.toHaveBeenCalled();
      expect(attempts).toEqual([]);
    },
  );

  it('when a name resolves to 127.0.0.1, then it is refused and the message names the host', async () => {
    const resolve = jest.fn(async () => [{ address: '127.0.0.1', family: 4 as const }]);
    const err = await failure(safeFetch('http://wiki.example.test/page', { ...base, resolve }));
    expect(err).toMatchObject({ status: 400, code: 'url-not-allowed', details: { host: 'wiki.example.test', reason: 'loopback' } });
    expect(err.message).toMatch(/^wiki\.example\.test resolves to a loopback address/);
    expect(resolve).toHaveBeenCalledWith('wiki.example.test');
    expect(attempts).toEqual([]);
  });

  it('when a name resolves to a public and a private address, then any bad answer refuses it, and not even the public one is tried', async () => {
    const resolve = jest.fn(async () => [
      { address: '93.184.216.34', family: 4 as const },
      { address: '10.0.0.1', family: 4 as const },
    ]);
    const err = await failure(safeFetch('https://mixed.example.test/doc.pdf', { ...base, resolve }));
    expect(err).toMatchObject({ status: 400, code: 'url-not-allowed', details: { host: 'mixed.example.test', reason: 'private' } });
    expect(attempts).toEqual([]);
  });

  it('when a name resolves to an IPv4-mapped metadata address, then it is refused', async () => {
    const resolve = jest.fn(async () => [{ address: '::ffff:a9fe:a9fe', family: 6 as const }]);
    const err = await failure(safeFetch('http://sneaky.example.test/', { ...base, resolve }));
    expect(err).toMatchObject({ code: 'url-not-allowed', details: { reason: 'link-local' } });
    expect(attempts).toEqual([]);
  });

  it.each(['ftp://example.com/file.txt', 'file:///etc/passwd', 'gopher://example.com/', 'data:text/plain,hello', 'javascript:alert(1)'])(
    'when the scheme is not http(s) (%s), then it is refused with 400 url-not-allowed',
    async (url) => {
      const err = await failure(safeFetch(url, { ...base, resolve: noDns() }));
      expect(err).toMatchObject({ status: 400, code: 'url-not-allowed' });
      expect(attempts).toEqual([]);
    },
  );

  it('when the URL carries credentials, then it is refused with 400 url-not-allowed', async () => {
    const err = await failure(safeFetch('http://admin:hunter2@wiki.example.test/', { ...base, resolve: noDns() }));
    expect(err).toMatchObject({ status: 400, code: 'url-not-allowed' });
    expect(err.message).not.toContain('hunter2');
  });

  it('when the URL cannot be parsed, then it is refused with 400 url-invalid', async () => {
    await expect(safeFetch('not a url', base)).rejects.toMatchObject({ status: 400, code: 'url-invalid' });
    await expect(safeFetch('http://[::1/', base)).rejects.toMatchObject({ status: 400, code: 'url-invalid' });
  });
});

describe('safeFetch: redirects', () => {
  it('when an allowed server redirects to the metadata address or to [::1], then the hop is refused and the second target never sees a connection', async () => {
    const second = await serve(serveDocument, '::1');
    const first = await serve((req, res) => {
      const to: Record<string, string> = {
        '/meta': 'http://169.254.169.254/latest/meta-data/',
        '/mapped': 'http://[::ffff:169.254.169.254]/',
        '/v6': `http://[::1]:${second.port}/`,
        '/ftp': 'ftp://example.com/x',
      };
      res.writeHead(302, { location: to[req.url ?? ''] ?? '/' }).end();
    });

    for (const [path, reason] of [
      ['/meta', 'link-local'],
      ['/mapped', 'link-local'],
      ['/v6', 'loopback'],
    ] as const) {
      attempts.length = 0;
      const err = await failure(safeFetch(`${first.origin}${path}`, { ...base, ...LOCAL, resolve: noDns() }));
      expect(err).toMatchObject({ status: 400, code: 'url-not-allowed', details: { reason } });
      expect(attempts.map((a) => `${a.host}:${a.port}`)).toEqual([`127.0.0.1:${first.port}`]);
    }
    await expect(safeFetch(`${first.origin}/ftp`, { ...base, ...LOCAL })).rejects.toMatchObject({ status: 400, code: 'url-not-allowed' });
    expect(second.connections).toBe(0);
  });

  it('when a redirect chain uses relative Locations within the default limit of 5, then it is followed to the document', async () => {
    const server = await serve((req, res) => {
      const n = Number(/^\/hop\/(\d+)$/.exec(req.url ?? '')?.[1]);
      if (n < 5) res.writeHead(n % 2 ? 301 : 307, { location: `${n + 1}` }).end();
      else serveDocument(req, res);
    });
    const result = await safeFetch(`${server.origin}/hop/0`, { ...base, ...LOCAL });
    expect(result.bytes.equals(document)).toBe(true);
    expect(result.finalUrl).toBe(`${server.origin}/hop/5`);
    expect(server.requests).toHaveLength(6);
  });

  it('when the server redirects more than maxRedirects times, then it fails with 400 too-many-redirects', async () => {
    const server = await serve((req, res) => {
      const n = Number(/^\/hop\/(\d+)$/.exec(req.url ?? '')?.[1]);
      res.writeHead(302, { location: `/hop/${n + 1}` }).end();
    });
    const err = await failure(safeFetch(`${server.origin}/hop/0`, { ...base, ...LOCAL, maxRedirects: 3 }));
    expect(err).toMatchObject({ status: 400, code: 'too-many-redirects', details: { maxRedirects: 3 } });
    expect(server.requests.map((r) => r.url)).toEqual(['/hop/0', '/hop/1', '/hop/2', '/hop/3']);

    const byDefault = await failure(safeFetch(`${server.origin}/hop/0`, { ...base, ...LOCAL }));
    expect(byDefault).toMatchObject({ code: 'too-many-redirects', details: { maxRedirects: 5 } });
  });

  it('when a redirect has no Location, then it fails with 502 url-fetch-failed', async () => {
    const server = await serve((_req, res) => res.writeHead(302).end());
    await expect(safeFetch(`${server.origin}/`, { ...base, ...LOCAL })).rejects.toMatchObject({ status: 502, code: 'url-fetch-failed', details: { status: 302 } });
  });
});

describe('safeFetch: fetching', () => {
  it('when an allowed local server returns a document, then bytes, content type, final URL and the Content-Disposition file name come back', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, {
        'content-type': 'text/markdown; charset=utf-8',
        'content-disposition': `attachment; filename="Q3 report.md"; filename*=UTF-8''Q3%20r%C3%A9port.md`,
      });
      res.end(document);
    });
    const result = await safeFetch(`${server.origin}/export?id=7`, { ...base, ...LOCAL, userAgent: 'HearthTest/1' });
    expect(result).toEqual({ bytes: document, contentType: 'text/markdown; charset=utf-8', finalUrl: `${server.origin}/export?id=7`, fileName: 'Q3 réport.md' });
    expect(server.requests[0]?.headers['user-agent']).toBe('HearthTest/1');
  });

  it.each([
    ['attachment; filename="../../etc/passwd"', '/x', 'passwd'],
    ['inline; filename=notes.txt', '/x', 'notes.txt'],
    [undefined, '/docs/handbook%20v2.md', 'handbook v2.md'],
    [undefined, '/', undefined],
  ])('when Content-Disposition is %s and the path is %s, then the file name label is %s', async (disposition, path, fileName) => {
    const server = await serve((_req, res) => {
      res.writeHead(200, disposition ? { 'content-disposition': disposition } : {});
      res.end('x');
    });
    const result = await safeFetch(`${server.origin}${path}`, { ...base, ...LOCAL });
    expect(result.fileName).toBe(fileName);
    expect(result.contentType).toBeUndefined();
  });

  it('when a name resolves to an allowed address, then the socket goes to exactly that answer, with the name as Host, and DNS is asked once', async () => {
    const server = await serve(serveDocument);
    // A rebinding resolver: the check sees loopback (allowed here), any later lookup would get 10.0.0.1.
    const answers = [[{ address: '127.0.0.1', family: 4 as const }]];
    const resolve = jest.fn(async () => answers.shift() ?? [{ address: '10.0.0.1', family: 4 as const }]);
    const result = await safeFetch(`http://wiki.intranet.test:${server.port}/handbook.md`, { ...base, ...LOCAL, resolve });

    expect(result.bytes.equals(document)).toBe(true);
    expect(result.fileName).toBe('handbook.md');
    expect(resolve).toHaveBeenCalledTimes(1);
    expect(server.requests[0]?.headers.host).toBe(`wiki.intranet.test:${server.port}`);
    expect(attempts).toEqual([{ host: 'wiki.intranet.test', port: server.port, resolvedTo: ['127.0.0.1'] }]);
  });

  it.each([
    ['gzip', zlib.gzipSync],
    ['deflate', zlib.deflateSync],
    ['deflate', zlib.deflateRawSync],
    ['br', zlib.brotliCompressSync],
  ] as const)('when the body is sent with Content-Encoding %s, then it comes back decompressed', async (encoding, compress) => {
    const text = Buffer.from('All work and no play. '.repeat(2_000));
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': encoding });
      res.end(compress(text));
    });
    const result = await safeFetch(`${server.origin}/doc.txt`, { ...base, ...LOCAL, maxBytes: text.length });
    expect(result.bytes.equals(text)).toBe(true);
    expect(server.requests[0]?.headers['accept-encoding']).toBe('gzip, deflate, br');
  });

  it('when the body is not valid gzip, or uses an unknown encoding, then it fails with 502 url-fetch-failed', async () => {
    const server = await serve((req, res) => {
      res.writeHead(200, { 'content-encoding': req.url === '/bad' ? 'gzip' : 'compress' });
      res.end('definitely not gzip');
    });
    const bad = await failure(safeFetch(`${server.origin}/bad`, { ...base, ...LOCAL }));
    expect(bad).toMatchObject({ status: 502, code: 'url-fetch-failed' });
    expect(bad.message).toMatch(/could not be decompressed/);
    const unknown = await failure(safeFetch(`${server.origin}/unknown`, { ...base, ...LOCAL }));
    expect(unknown).toMatchObject({ status: 502, code: 'url-fetch-failed', details: { contentEncoding: 'compress' } });
  });

  it('when the remote answers 404, then it fails with 502 url-fetch-failed and the status in details', async () => {
    const server = await serve((_req, res) => res.writeHead(404, { 'content-type': 'text/plain' }).end('nope'));
    const err = await failure(safeFetch(`${server.origin}/missing.md`, { ...base, ...LOCAL }));
    expect(err).toMatchObject({ status: 502, code: 'url-fetch-failed', details: { status: 404, url: `${server.origin}/missing.md` } });
    expect(err.message).toBe(`127.0.0.1 answered 404 Not Found.`);
  });

  it('when the remote answers 503, then it fails with 502 url-fetch-failed', async () => {
    const server = await serve((_req, res) => res.writeHead(503).end());
    await expect(safeFetch(`${server.origin}/`, { ...base, ...LOCAL })).rejects.toMatchObject({ status: 502, code: 'url-fetch-failed', details: { status: 503 } });
  });
});

describe('safeFetch: limits and failures', () => {
  it('when Content-Length is over maxBytes, then it fails with 413 at the headers and the server sees the socket closed', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': 10_000_000 });
      res.write(Buffer.alloc(1024));
    });
    const started = Date.now();
    const err = await failure(safeFetch(`${server.origin}/big.pdf`, { ...base, ...LOCAL, maxBytes: 100_000 }));
    expect(err).toMatchObject({ status: 413, code: 'file-too-large', details: { limitBytes: 100_000 } });
    expect(Date.now() - started).toBeLessThan(2_000);
    await within(server.socketClosed, 2_000, 'the server seeing its socket closed');
  });

  it('when a chunked body without Content-Length passes maxBytes, then the download is aborted with 413 and the server sees the socket closed', async () => {
    let sent = 0;
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const pump = setInterval(() => {
        res.write(Buffer.alloc(16 * 1024, 1));
        sent += 16 * 1024;
      }, 2);
      res.socket?.once('close', () => clearInterval(pump));
    });
    const err = await failure(safeFetch(`${server.origin}/endless`, { ...base, ...LOCAL, maxBytes: 100_000 }));
    expect(err).toMatchObject({ status: 413, code: 'file-too-large' });
    await within(server.socketClosed, 2_000, 'the server seeing its socket closed');
    expect(sent).toBeLessThan(5_000_000);
  });

  it('when a small gzip body inflates past maxBytes, then it fails with 413', async () => {
    const bomb = zlib.gzipSync(Buffer.alloc(20_000_000));
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-encoding': 'gzip', 'content-length': bomb.length });
      res.end(bomb);
    });
    expect(bomb.length).toBeLessThan(100_000);
    await expect(safeFetch(`${server.origin}/bomb`, { ...base, ...LOCAL, maxBytes: 100_000 })).rejects.toMatchObject({ status: 413, code: 'file-too-large' });
  });

  it('when the server never answers, then it fails with 504 url-fetch-timeout within about the timeout', async () => {
    const server = await serve(() => undefined);
    const started = Date.now();
    const err = await failure(safeFetch(`${server.origin}/slow`, { ...base, ...LOCAL, timeoutMs: 300 }));
    const elapsed = Date.now() - started;
    expect(err).toMatchObject({ status: 504, code: 'url-fetch-timeout', details: { timeoutMs: 300 } });
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(1_500);
    await within(server.socketClosed, 2_000, 'the server seeing its socket closed');
  });

  it('when the body stalls halfway, then the total budget still ends it with 504', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': 1000 });
      res.write('partial');
    });
    const started = Date.now();
    await expect(safeFetch(`${server.origin}/stall`, { ...base, ...LOCAL, timeoutMs: 300 })).rejects.toMatchObject({ status: 504, code: 'url-fetch-timeout' });
    expect(Date.now() - started).toBeLessThan(1_500);
  });

  it('when DNS is slow, then the budget covers it too', async () => {
    const resolve = jest.fn(() => new Promise<{ address: string; family: 4 | 6 }[]>(() => undefined));
    await expect(safeFetch('http://slow-dns.example.test/', { ...base, timeoutMs: 200, resolve })).rejects.toMatchObject({ status: 504, code: 'url-fetch-timeout' });
    expect(attempts).toEqual([]);
  });

  it('when the name does not exist, then it fails with 400 url-host-not-found; when DNS is failing, with 502 url-fetch-failed', async () => {
    const nxdomain = jest.fn(async () => {
      throw Object.assign(new Error('getaddrinfo ENOTFOUND nope.example.test'), { code: 'ENOTFOUND' });
    });
    await expect(safeFetch('http://nope.example.test/', { ...base, resolve: nxdomain })).rejects.toMatchObject({ status: 400, code: 'url-host-not-found', details: { host: 'nope.example.test' } });
    await expect(safeFetch('http://empty.example.test/', { ...base, resolve: async () => [] })).rejects.toMatchObject({ status: 400, code: 'url-host-not-found' });

    const servfail = jest.fn(async () => {
      throw Object.assign(new Error('getaddrinfo EAI_AGAIN flaky.example.test'), { code: 'EAI_AGAIN' });
    });
    await expect(safeFetch('http://flaky.example.test/', { ...base, resolve: servfail })).rejects.toMatchObject({ status: 502, code: 'url-fetch-failed', details: { code: 'EAI_AGAIN' } });
    expect(attempts).toEqual([]);
  });

  it('when nothing listens on the port, then it fails with 502 url-fetch-failed saying the connection was refused', async () => {
    const server = await startServer(serveDocument);
    await server.close();
    const err = await failure(safeFetch(`${server.origin}/`, { ...base, ...LOCAL }));
    expect(err).toMatchObject({ status: 502, code: 'url-fetch-failed', details: { code: 'ECONNREFUSED' } });
    expect(err.message).toBe(`127.0.0.1:${server.port} refused the connection.`);
  });

  it('when https:// reaches a server that does not speak TLS, then it fails with 502 url-fetch-failed naming the TLS failure', async () => {
    const server = await serve(serveDocument);
    const err = await failure(safeFetch(`https://127.0.0.1:${server.port}/`, { ...base, ...LOCAL }));
    expect(err).toMatchObject({ status: 502, code: 'url-fetch-failed' });
    expect(err.message).toMatch(/TLS/);
  });

  it('when the server drops the connection mid-body, then it fails with 502 url-fetch-failed', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': 1000 });
      res.write('partial', () => res.socket?.destroy());
    });
    await expect(safeFetch(`${server.origin}/`, { ...base, ...LOCAL })).rejects.toMatchObject({ status: 502, code: 'url-fetch-failed' });
  });
});

describe('isForbiddenAddress', () => {
  it.each([
    '127.0.0.1',
    '127.255.255.254',
    '127.1',
    '2130706433',
    '0x7f000001',
    '0177.0.0.1',
    '0.0.0.0',
    '10.0.0.1',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '100.127.255.255',
    '255.255.255.255',
    '224.0.0.1',
    '239.255.255.250',
    '240.0.0.1',
    '192.0.2.1',
    '198.18.0.1',
    '::1',
    '[::1]',
    '::',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '::ffff:169.254.169.254',
    '::ffff:10.0.0.1',
    '::ffff:0:a9fe:a9fe',
    '::127.0.0.1',
    '::7f00:1',
    'fe80::1',
    'fe80::1%eth0',
    'fc00::1',
    'fd12:3456:789a::1',
    'ff02::1',
    'fec0::1',
    '64:ff9b::a9fe:a9fe',
    '64:ff9b::7f00:1',
    '64:ff9b:1::5db8:d822',
    '2002:a9fe:a9fe::1',
    '2002:7f00:1::1',
    '2001:0:4136:e378:8000:63bf:80ff:fffe',
    '2001:0:a9fe:a9fe::1',
    '2001:db8::1',
    '100::1',
    'not-an-ip',
    'localhost',
    '',
  ])('when the address is %s, then it is forbidden', (address) => {
    expect(isForbiddenAddress(address)).toBe(true);
  });

  it.each([
    '93.184.216.34',
    '8.8.8.8',
    '1.1.1.1',
    '172.15.255.255',
    '172.32.0.1',
    '100.63.255.255',
    '100.128.0.1',
    '2606:4700::1',
    '2001:4860:4860::8888',
    '::ffff:93.184.216.34',
    '64:ff9b::5db8:d822',
    '2002:5db8:d822::1',
    '2001:0:4136:e378:8000:63bf:a247:27dd',
  ])('when the address is public (%s), then it is allowed (classified only, never connected to)', (address) => {
    expect(isForbiddenAddress(address)).toBe(false);
  });

  it.each([
    ['127.0.0.1', ['127.0.0.1/32'], false],
    ['127.0.0.2', ['127.0.0.1/32'], true],
    ['::ffff:127.0.0.1', ['127.0.0.1/32'], false],
    ['::1', ['127.0.0.1/32'], true],
    ['10.1.2.3', ['10.0.0.0/8'], false],
    ['192.168.0.9', ['10.0.0.0/8', '192.168.0.0/24'], false],
    ['192.168.1.9', ['192.168.0.0/24'], true],
    ['fd00::5', ['fd00::/8'], false],
    ['10.0.0.7', ['10.0.0.7'], false],
  ] as const)('when the address is %s and allowCidrs is %j, then forbidden is %s', (address, allowCidrs, forbidden) => {
    expect(isForbiddenAddress(address, [...allowCidrs])).toBe(forbidden);
  });

  it('when allowCidrs holds something that is not a CIDR, then it throws instead of guessing', () => {
    expect(() => isForbiddenAddress('10.0.0.1', ['10.0.0.0/33'])).toThrow(/allowCidrs/);
    expect(() => isForbiddenAddress('10.0.0.1', ['intranet'])).toThrow(/allowCidrs/);
  });
});
