import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import { Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import ipaddr from 'ipaddr.js';
import { AppError } from '../errors';

/**
 * Fetches a user-supplied URL on the server's behalf (knowledge-base import) without letting the
 * user reach what only the server can reach: loopback, the private network, cloud metadata.
 *
 * Every hop's host is resolved once, every answer is classified, and the socket is then pinned to
 * exactly those answers through a custom `lookup`, so a DNS server that answers differently the
 * second time (rebinding) never gets a say. Redirects are followed by hand so each Location goes
 * through the same checks.
 *
 * Error codes: url-invalid (400), url-not-allowed (400), url-host-not-found (400: the name does
 * not exist), too-many-redirects (400), file-too-large (413), url-fetch-failed (502: the remote
 * answered 4xx/5xx, the connection or TLS failed, DNS failed temporarily, or the body could not be
 * decoded), url-fetch-timeout (504).
 */

export interface SafeFetchOptions {
  /** Body cap, wire bytes and decoded bytes alike; refused up front when Content-Length says so. */
  maxBytes: number;
  /** Budget for the whole fetch, every hop's DNS, connect, headers and body included. */
  timeoutMs: number;
  maxRedirects?: number;
  /** CIDRs that are allowed even though private/loopback (admins' intranet wikis; tests use 127.0.0.1/32) */
  allowCidrs?: string[];
  /** DNS resolution, injectable for tests; default: dns.promises.lookup(host, { all: true, verbatim: true }) */
  resolve?: (hostname: string) => Promise<{ address: string; family: 4 | 6 }[]>;
  userAgent?: string;
}

export interface SafeFetchResult {
  bytes: Buffer;
  /** The Content-Type header as the server sent it (parameters included). */
  contentType: string | undefined;
  finalUrl: string;
  /** From Content-Disposition or the last path segment, as a label only */
  fileName: string | undefined;
}

export class UrlInvalidError extends AppError {
  constructor() {
    super(400, 'url-invalid', 'The URL is not valid. Use a full http:// or https:// address.');
  }
}

export class UrlNotAllowedError extends AppError {
  constructor(message: string, details?: unknown) {
    super(400, 'url-not-allowed', message, details);
  }
}

export class UrlHostNotFoundError extends AppError {
  constructor(host: string) {
    super(400, 'url-host-not-found', `The host ${host} could not be found.`, { host });
  }
}

export class TooManyRedirectsError extends AppError {
  constructor(maxRedirects: number) {
    super(400, 'too-many-redirects', `The URL redirected more than ${maxRedirects} times.`, { maxRedirects });
  }
}

export class FileTooLargeError extends AppError {
  constructor(limitBytes: number) {
    super(413, 'file-too-large', `The document is larger than the limit of ${formatBytes(limitBytes)}.`, { limitBytes });
  }
}

export class UrlFetchFailedError extends AppError {
  constructor(message: string, details?: unknown) {
    super(502, 'url-fetch-failed', message, details);
  }
}

export class UrlFetchTimeoutError extends AppError {
  constructor(timeoutMs: number) {
    super(504, 'url-fetch-timeout', `Fetching the URL took longer than ${formatSeconds(timeoutMs)}.`, { timeoutMs });
  }
}

const DEFAULT_MAX_REDIRECTS = 5;
const DEFAULT_USER_AGENT = 'Hearth/0.1 (knowledge-base import)';
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
/** Names that reach a cloud metadata service without DNS saying so (GCE resolves them internally). */
const METADATA_HOSTS = new Set(['metadata.google.internal', 'metadata']);
const GLOBAL_UNICAST_V6 = ipaddr.parseCIDR('2000::/3');
/** DNS answers that mean "this name does not exist", as opposed to "DNS is having trouble". */
const NAME_NOT_FOUND_CODES = new Set(['ENOTFOUND', 'ENODATA', 'EAI_NONAME', 'EAI_NODATA', 'NXDOMAIN']);

type IP = ipaddr.IPv4 | ipaddr.IPv6;
interface PinnedAddress {
  address: string;
  family: 4 | 6;
}
interface Hop {
  url: URL;
  /** Hostname without IPv6 brackets; what error messages name. */
  host: string;
}

export async function safeFetch(url: string, opts: SafeFetchOptions): Promise<SafeFetchResult> {
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(), opts.timeoutMs);
  const state: { hop?: Hop } = {};
  try {
    return await follow(url, opts, deadline.signal, state);
  } catch (err) {
    if (err instanceof AppError) throw err;
    // Checked before mapping: an aborted socket surfaces as ECONNRESET/AbortError, which is the timer's doing.
    if (deadline.signal.aborted) throw new UrlFetchTimeoutError(opts.timeoutMs);
    // Socket, TLS and parser errors all carry a code; anything without one is a bug, not the remote's fault.
    if (!(err as NodeJS.ErrnoException | undefined)?.code) throw err;
    throw networkError(err, state.hop);
  } finally {
    clearTimeout(timer);
  }
}

async function follow(url: string, opts: SafeFetchOptions, signal: AbortSignal, state: { hop?: Hop }): Promise<SafeFetchResult> {
  const maxRedirects = opts.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
  let hop = toHop(parseUrl(url));
  for (let redirects = 0; ; redirects++) {
    state.hop = hop;
    const addresses = await resolveHop(hop, opts, signal);
    const { req, res } = await send(hop, addresses, opts, signal);
    const status = res.statusCode ?? 0;

    if (REDIRECT_STATUSES.has(status)) {
      req.destroy();
      const location = res.headers.location;
      if (!location) throw new UrlFetchFailedError(`${hop.host} answered ${status} without saying where to go.`, { status });
      if (redirects >= maxRedirects) throw new TooManyRedirectsError(maxRedirects);
      let next: URL;
      try {
        next = new URL(location, hop.url);
      } catch {
        throw new UrlFetchFailedError(`${hop.host} redirected to an address that is not a valid URL.`, { status });
      }
      hop = toHop(next);
      continue;
    }
    if (status < 200 || status > 299) {
      req.destroy();
      throw new UrlFetchFailedError(`${hop.host} answered ${status}${res.statusMessage ? ` ${res.statusMessage}` : ''}.`, { status, url: hop.url.href });
    }

    const declared = Number(res.headers['content-length']);
    if (Number.isFinite(declared) && declared > opts.maxBytes) {
      req.destroy();
      throw new FileTooLargeError(opts.maxBytes);
    }
    const bytes = await readBody(res, hop, opts.maxBytes);
    const contentType = res.headers['content-type']?.trim() || undefined;
    return { bytes, contentType, finalUrl: hop.url.href, fileName: fileNameFrom(res.headers['content-disposition'], hop.url) };
  }
}

function parseUrl(raw: string): URL {
  try {
    return new URL(raw.trim());
  } catch {
    throw new UrlInvalidError();
  }
}

/** The checks that need no DNS: scheme, credentials, metadata names. */
function toHop(url: URL): Hop {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UrlNotAllowedError(`Only http:// and https:// URLs can be imported (this one is ${url.protocol}).`, { protocol: url.protocol });
  }
  // Credentials would be sent to whoever the URL (or a redirect) points at, and end up in logs.
  if (url.username || url.password) throw new UrlNotAllowedError('URLs with a user name or password in them cannot be imported.');
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!host) throw new UrlInvalidError();
  const name = host.toLowerCase().replace(/\.+$/, '');
  if (METADATA_HOSTS.has(name)) throw new UrlNotAllowedError(`${host} is a cloud metadata host, which cannot be fetched.`, { host, reason: 'metadata' });
  return { url, host };
}

async function resolveHop(hop: Hop, opts: SafeFetchOptions, signal: AbortSignal): Promise<PinnedAddress[]> {
  // The URL parser has already normalised IPv4 spellings (127.1, 2130706433, 0x7f000001) to dotted quads.
  const literal = ipaddr.isValid(hop.host) && (hop.url.hostname.startsWith('[') || ipaddr.IPv4.isValidFourPartDecimal(hop.host));
  const answers = literal ? [{ address: hop.host, family: hop.url.hostname.startsWith('[') ? 6 : 4 }] : await lookup(hop.host, opts, signal);
  if (answers.length === 0) throw new UrlHostNotFoundError(hop.host);

  const pinned: PinnedAddress[] = [];
  for (const answer of answers) {
    const ip = parseAddress(answer.address);
    const reason = ip ? refusalReason(ip, opts.allowCidrs) : 'unrecognised';
    // Any bad answer refuses the host: the socket may pick any of them, and a name that mixes
    // public and private answers is exactly what an attacker would publish.
    if (!ip || reason) {
      const what = `${/^[aeiou]/.test(reason!) ? 'an' : 'a'} ${reason} address`;
      throw new UrlNotAllowedError(`${hop.host} ${literal ? 'is' : 'resolves to'} ${what}, which cannot be fetched. Only public internet addresses are allowed.`, { host: hop.host, reason });
    }
    pinned.push({ address: ip.toString(), family: ip.kind() === 'ipv6' ? 6 : 4 });
  }
  return pinned;
}

async function lookup(host: string, opts: SafeFetchOptions, signal: AbortSignal): Promise<{ address: string; family: number }[]> {
  const resolve = opts.resolve ?? ((name: string) => dns.promises.lookup(name, { all: true, verbatim: true }));
  try {
    return await untilAborted(resolve(host), signal);
  } catch (err) {
    if (signal.aborted) throw err;
    const code = (err as NodeJS.ErrnoException | undefined)?.code;
    if (code && NAME_NOT_FOUND_CODES.has(code)) throw new UrlHostNotFoundError(host);
    throw new UrlFetchFailedError(`The name ${host} could not be resolved right now${code ? ` (${code})` : ''}. Try again later.`, { host, code });
  }
}

/** dns.lookup cannot be cancelled; the deadline at least stops us waiting for it. */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new Error('aborted'));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new Error('aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function send(hop: Hop, addresses: PinnedAddress[], opts: SafeFetchOptions, signal: AbortSignal): Promise<{ req: http.ClientRequest; res: http.IncomingMessage }> {
  const transport = hop.url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = transport.request(
      hop.url,
      {
        method: 'GET',
        // A pooled socket was connected under some earlier check; every hop gets its own.
        agent: false,
        signal,
        lookup: pinnedLookup(addresses),
        headers: { 'user-agent': opts.userAgent ?? DEFAULT_USER_AGENT, accept: '*/*', 'accept-encoding': 'gzip, deflate, br' },
      },
      (res) => resolve({ req, res }),
    );
    req.on('error', reject);
    req.end();
  });
}

/** Hands the socket the addresses that were checked, so connecting never asks DNS again. */
function pinnedLookup(addresses: PinnedAddress[]): net.LookupFunction {
  return (_hostname, options, callback) => {
    process.nextTick(() => {
      const first = addresses[0]!;
      if (options.all) callback(null, addresses.map((a) => ({ address: a.address, family: a.family })));
      else callback(null, first.address, first.family);
    });
  };
}

async function readBody(res: http.IncomingMessage, hop: Hop, maxBytes: number): Promise<Buffer> {
  let decoders: Transform[];
  try {
    decoders = decodersFor(res.headers['content-encoding'], hop);
  } catch (err) {
    res.destroy();
    throw err;
  }
  let decodeError: unknown;
  for (const d of decoders) d.once('error', (err) => (decodeError ??= err));

  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk);
      done();
    },
  });
  try {
    // Counted twice: on the wire (what we download) and decoded (what we keep; a small gzip can inflate enormously).
    await pipeline([res, byteLimit(maxBytes), ...decoders, byteLimit(maxBytes), sink]);
  } catch (err) {
    // pipeline destroys every stage on failure, and destroying the response closes its socket.
    if (err instanceof AppError) throw err;
    if (decodeError !== undefined && err === decodeError) {
      throw new UrlFetchFailedError(`The document from ${hop.host} could not be decompressed.`, { host: hop.host });
    }
    throw err;
  }
  return Buffer.concat(chunks);
}

function byteLimit(maxBytes: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length;
      if (seen > maxBytes) done(new FileTooLargeError(maxBytes));
      else done(null, chunk);
    },
  });
}

function decodersFor(header: string | undefined, hop: Hop): Transform[] {
  const codings = (header ?? '').split(',').map((c) => c.trim().toLowerCase()).filter((c) => c && c !== 'identity');
  // Listed in the order they were applied, so undone last-first.
  return codings.reverse().map((coding) => {
    switch (coding) {
      case 'gzip':
      case 'x-gzip':
        return zlib.createGunzip();
      case 'deflate':
        return deflateDecoder();
      case 'br':
        return zlib.createBrotliDecompress();
      default:
        throw new UrlFetchFailedError(`${hop.host} sent the document in an unsupported encoding (${coding}).`, { host: hop.host, contentEncoding: coding });
    }
  });
}

/**
 * "deflate" means zlib-wrapped (RFC 9110), but some servers send raw deflate; the low nibble of
 * the first byte tells them apart (8 = zlib's CM field), which is what browsers do too.
 */
function deflateDecoder(): Transform {
  let inner: zlib.Inflate | zlib.InflateRaw | undefined;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      if (!inner) {
        inner = ((chunk[0] ?? 0) & 0x0f) === 0x08 ? zlib.createInflate() : zlib.createInflateRaw();
        inner.on('data', (out: Buffer) => this.push(out));
        inner.on('error', (err) => this.destroy(err));
      }
      inner.write(chunk, () => done());
    },
    flush(done) {
      if (!inner) return done();
      inner.once('end', () => done());
      inner.end();
    },
    destroy(err, done) {
      inner?.destroy();
      done(err);
    },
  });
}

function fileNameFrom(disposition: string | undefined, url: URL): string | undefined {
  const fromHeader = disposition ? fileNameFromDisposition(disposition) : undefined;
  if (fromHeader) return fromHeader;
  const segment = url.pathname.split('/').filter(Boolean).pop();
  if (!segment) return undefined;
  try {
    return asLabel(decodeURIComponent(segment));
  } catch {
    return asLabel(segment);
  }
}

function fileNameFromDisposition(header: string): string | undefined {
  // RFC 6266: filename* (RFC 8187 ext-value) wins over filename when both are present.
  const extended = /(?:^|;)\s*filename\*\s*=\s*([\w!#$%&+^`{}~-]*)'[^']*'([^;\s]+)/i.exec(header);
  if (extended) {
    const charset = extended[1]!.toLowerCase();
    const label = asLabel(percentDecode(extended[2]!).toString(charset === 'iso-8859-1' ? 'latin1' : 'utf8'));
    if (label) return label;
  }
  const plain = /(?:^|;)\s*filename\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]*))/i.exec(header);
  if (!plain) return undefined;
  return asLabel(plain[1] !== undefined ? plain[1].replace(/\\(.)/g, '$1') : (plain[2] ?? ''));
}

function percentDecode(s: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const hex = s.slice(i + 1, i + 3);
    if (s[i] === '%' && /^[0-9a-f]{2}$/i.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(s[i]!, 'utf8'));
    }
  }
  return Buffer.from(bytes);
}

/** The name is shown to people, never used as a path, but keep it from looking like one. */
function asLabel(name: string): string | undefined {
  // eslint-disable-next-line no-control-regex
  const base = (name.split(/[\\/]/).pop() ?? '').replace(/[\u0000-\u001f\u007f]/g, '').trim().slice(0, 255);
  return base && base !== '.' && base !== '..' ? base : undefined;
}

/**
 * True when a fetch must not go to this address: anything but public unicast, including the IPv4
 * forms hidden inside IPv6 (mapped, NAT64, 6to4, Teredo). Unparseable input is forbidden.
 * allowCidrs re-admits addresses an admin vouches for (IPv4-mapped forms match IPv4 CIDRs).
 */
export function isForbiddenAddress(address: string, allowCidrs?: string[]): boolean {
  const ip = parseAddress(address);
  return !ip || refusalReason(ip, allowCidrs) !== undefined;
}

function parseAddress(address: string): IP | undefined {
  const bare = address.trim().replace(/^\[(.*)\]$/, '$1');
  return ipaddr.isValid(bare) ? ipaddr.parse(bare) : undefined;
}

/** Why the address is refused, in words for the error message; undefined when it may be fetched. */
function refusalReason(ip: IP, allowCidrs: string[] | undefined): string | undefined {
  if (allowCidrs?.length && isAllowListed(ip, allowCidrs)) return undefined;
  return classify(ip);
}

function classify(ip: IP): string | undefined {
  if (ip.kind() === 'ipv4') {
    const range = (ip as ipaddr.IPv4).range();
    return range === 'unicast' ? undefined : reasonFor(range);
  }
  const v6 = ip as ipaddr.IPv6;
  const range = v6.range();
  const embedded = embeddedIPv4(v6, range);
  if (embedded) {
    for (const inner of embedded) {
      const reason = classify(inner);
      if (reason) return reason;
    }
    return undefined;
  }
  // Only 2000::/3 is handed out as global unicast; everything else (::/8 including the deprecated
  // IPv4-compatible ::a.b.c.d, documentation, ORCHID, discard...) has no business being fetched.
  return range === 'unicast' && v6.match(GLOBAL_UNICAST_V6) ? undefined : reasonFor(range);
}

/** IPv4 addresses a packet to this IPv6 address would end up at, when the format says so. */
function embeddedIPv4(ip: ipaddr.IPv6, range: string): ipaddr.IPv4[] | undefined {
  const p = ip.parts;
  const v4 = (hi: number, lo: number) => new ipaddr.IPv4([hi >> 8, hi & 0xff, lo >> 8, lo & 0xff]);
  switch (range) {
    case 'ipv4Mapped':
      return [ip.toIPv4Address()];
    case 'rfc6145':
      return [v4(p[6]!, p[7]!)];
    case 'rfc6052':
      // Only the well-known NAT64 prefix 64:ff9b::/96 has a fixed layout; 64:ff9b:1::/48 is for
      // local use (RFC 8215) and treated as reserved.
      return p[2] === 0 && p[3] === 0 && p[4] === 0 && p[5] === 0 ? [v4(p[6]!, p[7]!)] : [new ipaddr.IPv4([240, 0, 0, 0])];
    case '6to4':
      return [v4(p[1]!, p[2]!)];
    case 'teredo':
      // Server address in bits 32-63, client address obfuscated (inverted) in the last 32 bits.
      return [v4(p[2]!, p[3]!), v4(~p[6]! & 0xffff, ~p[7]! & 0xffff)];
    default:
      return undefined;
  }
}

function reasonFor(range: string): string {
  switch (range) {
    case 'loopback':
      return 'loopback';
    case 'private':
    case 'uniqueLocal':
      return 'private';
    case 'linkLocal':
      return 'link-local';
    case 'carrierGradeNat':
      return 'carrier-grade NAT';
    case 'unspecified':
    case 'broadcast':
    case 'multicast':
      return range;
    default:
      return 'reserved';
  }
}

function isAllowListed(ip: IP, allowCidrs: string[]): boolean {
  const forms: IP[] = [ip];
  if (ip.kind() === 'ipv4') forms.push((ip as ipaddr.IPv4).toIPv4MappedAddress());
  else if ((ip as ipaddr.IPv6).isIPv4MappedAddress()) forms.push((ip as ipaddr.IPv6).toIPv4Address());
  return allowCidrs.some((cidr) => {
    const [network, bits] = parseCidr(cidr);
    return forms.some((form) => form.kind() === network.kind() && form.match(network, bits));
  });
}

/** Admin config, so a typo fails loudly instead of silently allowing nothing (or everything). */
function parseCidr(cidr: string): [IP, number] {
  const trimmed = cidr.trim();
  try {
    if (trimmed.includes('/')) return ipaddr.parseCIDR(trimmed);
    const ip = ipaddr.parse(trimmed);
    return [ip, ip.kind() === 'ipv4' ? 32 : 128];
  } catch {
    throw new Error(`allowCidrs: "${cidr}" is not a CIDR (expected e.g. 10.0.0.0/8 or fd00::/8)`);
  }
}

function networkError(err: unknown, hop: Hop | undefined): AppError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const host = hop ? hop.url.host : 'the server';
  const details = { host: hop?.host, code };
  switch (code) {
    case 'ECONNREFUSED':
      return new UrlFetchFailedError(`${host} refused the connection.`, details);
    case 'ECONNRESET':
    case 'EPIPE':
      return new UrlFetchFailedError(`The connection to ${host} was closed before the document arrived.`, details);
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EADDRNOTAVAIL':
      return new UrlFetchFailedError(`${host} cannot be reached from this server.`, details);
    case 'ETIMEDOUT':
      return new UrlFetchFailedError(`Connecting to ${host} timed out.`, details);
  }
  // EPROTO is what a failed handshake looks like when the far end does not speak TLS at all.
  if (code && (isTlsErrorCode(code) || (code === 'EPROTO' && hop?.url.protocol === 'https:'))) {
    return new UrlFetchFailedError(`The secure (TLS) connection to ${host} failed (${code}).`, details);
  }
  if (code?.startsWith('HPE_')) return new UrlFetchFailedError(`${host} sent a response that is not valid HTTP.`, details);
  return new UrlFetchFailedError(`Fetching the document from ${host} failed${code ? ` (${code})` : ''}.`, details);
}

function isTlsErrorCode(code: string): boolean {
  return /^ERR_(SSL|TLS)_/.test(code) || /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY|DECRYPT)|ISSUER/.test(code);
}

function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${Math.round((n / 1024 / 1024) * 10) / 10} MB`;
  if (n >= 1024) return `${Math.round(n / 1024)} KB`;
  return `${n} bytes`;
}

function formatSeconds(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Math.round(ms / 100) / 10} s`;
}
