import type { Db } from '../../platform/db/client';
import { costOf } from './usage.cost';
import { UsageRepository } from './usage.repository';

export interface UsageRecord {
  userId: string | null;
  agentId?: string | null;
  conversationId?: string | null;
  messageId?: string | null;
  apiKeyId?: string | null;
  kbId?: string | null;
  kind: 'chat' | 'embedding' | 'title';
  provider: string;
  model: string;
  promptTokens: number;
  completionTokens?: number;
  source: 'reported' | 'estimated';
  status?: 'complete' | 'aborted' | 'error' | 'interrupted';
  latencyMs?: number;
  ttftMs?: number;
  error?: string;
  /** makes the call idempotent */
  idempotencyKey?: string;
  at?: Date;
}

export interface RecordResult {
  recorded: boolean;
  id?: string;
  cost: string;
}

const KINDS = new Set(['chat', 'embedding', 'title']);
const SOURCES = new Set(['reported', 'estimated']);
const STATUSES = new Set(['complete', 'aborted', 'error', 'interrupted']);
/** Provider error texts can be long; the row keeps enough to explain the failure. */
const MAX_ERROR_LENGTH = 2000;

const optionalMs = (n: number | undefined): number | null => (n === undefined ? null : Math.max(0, Math.round(n)));

/**
 * A call begun with begin(): its pending row, and (once lookUpPrice() started it) the lookup of
 * the price in force at its start, which resolves to undefined when the lookup failed.
 */
export interface PendingCall {
  id: string;
  provider: string;
  model: string;
  createdAt: Date;
  price?: Promise<{ found: ModelPrice | undefined } | undefined>;
}
type ModelPrice = Awaited<ReturnType<UsageRepository['priceAt']>>;

export type FinishResult = Pick<UsageRecord, 'promptTokens' | 'completionTokens' | 'source' | 'latencyMs' | 'ttftMs' | 'error' | 'messageId'> & { status: 'complete' | 'aborted' | 'error' | 'interrupted' };

/** The recording half of the usage module: one finished model call → its row and the daily sums. */
export class UsageRecorder {
  /** Outside any transaction: kept, so that its prepared statements are built once. */
  private readonly repo: UsageRepository;
  constructor(private readonly db: Db) {
    this.repo = new UsageRepository(db);
  }

  /** Records one finished call: inserts the ai_usage row (cost from the model_prices row in force at `at`, 0 when none), and bumps ai_usage_daily (day in UTC of `at`) — in the transaction `tx` given (so the caller can commit it with its own writes), or in its own transaction. A second call with the same idempotencyKey records nothing and returns { recorded: false }. */
  async record(rec: UsageRecord, tx?: Db): Promise<RecordResult> {
    validate(rec);
    if (tx) return this.recordIn(new UsageRepository(tx), rec);
    return this.db.transaction((t) => this.recordIn(new UsageRepository(t), rec));
  }

  /**
   * Opens a call that is about to spend tokens (DESIGN.md, "The chat turn"): a `pending` row owned by
   * this process, holding `reservedTokens`, written before the provider is asked. finish() closes it.
   */
  async begin(rec: Pick<UsageRecord, 'userId' | 'agentId' | 'conversationId' | 'apiKeyId' | 'kind' | 'provider' | 'model'> & { reservedTokens: number; ownerProcess: string }, tx?: Db): Promise<PendingCall> {
    const tokens = rec.reservedTokens;
    if (!Number.isSafeInteger(tokens) || tokens < 0) throw new Error(`Usage reservedTokens must be a non-negative integer, got ${tokens}.`);
    const row = await (tx ? new UsageRepository(tx) : this.repo).insertPending({
      userId: rec.userId,
      agentId: rec.agentId ?? null,
      conversationId: rec.conversationId ?? null,
      apiKeyId: rec.apiKeyId ?? null,
      kind: rec.kind,
      provider: rec.provider,
      model: rec.model,
      reservedTokens: tokens,
      ownerProcess: rec.ownerProcess,
    });
    return { id: row.id, provider: rec.provider, model: rec.model, createdAt: row.createdAt };
  }

  /**
   * Starts looking up the price in force at the call's start (once), outside any transaction, so
   * that finishing is one statement; meant for while the provider answers (after its first
   * event, so that it is never on the way to the first token). Await `call.price` before opening
   * a transaction to finish in: awaiting it inside one that was open when it started would wait
   * for ever on PGlite's single connection. A failed lookup is done again by finish(). A price
   * set or corrected after the lookup applies to later calls, not to this one.
   */
  lookUpPrice(call: PendingCall): void {
    call.price ??= this.repo.priceAt(call.provider, call.model, call.createdAt).then(
      (found) => ({ found }),
      () => undefined,
    );
  }

  /**
   * Finalises a pending call exactly once, with its daily sums, in `tx` when given (so the caller's
   * own writes, the assistant message, commit with it): its tokens, cost (the price in force when
   * the call began), status. With the price looked up already that is one statement; given only
   * an id, the row and the price are read first. A row already finalised is left alone:
   * { recorded: false }.
   */
  async finish(call: string | PendingCall, result: FinishResult, tx?: Db): Promise<RecordResult> {
    validate({ userId: null, kind: 'chat', provider: 'x', model: 'x', ...result });
    const id = typeof call === 'string' ? call : call.id;
    const repo = tx ? new UsageRepository(tx) : this.repo;
    const promptTokens = result.promptTokens;
    const completionTokens = result.completionTokens ?? 0;
    const known = typeof call === 'string' ? undefined : await call.price;
    let price = known?.found;
    if (!known) {
      const current = await repo.findById(id);
      if (!current || current.status !== 'pending') return { recorded: false, id, cost: current?.cost ?? '0' };
      price = await repo.priceAt(current.provider, current.model, current.createdAt);
    }
    const cost = costOf(price, promptTokens, completionTokens);
    const recorded = await repo.finishPendingAndSum(id, {
      priceKnown: price !== undefined,
      promptTokens,
      completionTokens,
      totalTokens: promptTokens + completionTokens,
      cost,
      source: result.source,
      status: result.status,
      latencyMs: optionalMs(result.latencyMs),
      ttftMs: optionalMs(result.ttftMs),
      error: result.error === undefined ? null : result.error.slice(0, MAX_ERROR_LENGTH),
      messageId: result.messageId ?? null,
      finishedAt: new Date(),
    });
    if (!recorded) return { recorded: false, id, cost: (await repo.findById(id))?.cost ?? '0' };
    return { recorded: true, id, cost };
  }

  /** Ends this process could not write (the database did not answer): id → the end. */
  private readonly unwritten = new Map<string, FinishResult>();

  /**
   * For a call whose end could not be written: kept and written by retryUnwritten() (the
   * heartbeat's sweep, and at shutdown) once the database answers. While this process lives its
   * heartbeat goes on, so no sweeper would ever take the row as orphaned: without this it would
   * stay pending. If the process dies first, or its heartbeat stalls past the staleness while the
   * database is away, the row is swept as interrupted (without these tokens) like any other.
   */
  finishLater(id: string, result: FinishResult): void {
    this.unwritten.set(id, result);
  }

  /**
   * Writes the ends finishLater() kept, each on its own (one failing does not hold up the others);
   * returns how many were written, failed again, or found finalised by someone else.
   */
  async retryUnwritten(): Promise<{ written: number; failed: number; superseded: number }> {
    let written = 0;
    let failed = 0;
    let superseded = 0;
    for (const [id, result] of [...this.unwritten]) {
      try {
        const r = await this.db.transaction((tx) => this.finish(id, result, tx as unknown as Db));
        this.unwritten.delete(id);
        // Already finalised: another process's sweeper took the row as interrupted meanwhile.
        if (r.recorded) written += 1;
        else superseded += 1;
      } catch {
        failed += 1;
      }
    }
    return { written, failed, superseded };
  }

  /** For admins/tests: set a price. */
  async setPrice(p: { provider: string; model: string; inputPerMillion: string; outputPerMillion: string; effectiveFrom?: Date; createdBy?: string }): Promise<void> {
    // Parsing through costOf rejects anything that is not a plain non-negative decimal before it reaches SQL.
    costOf({ inputPerMillion: p.inputPerMillion, outputPerMillion: p.outputPerMillion }, 0, 0);
    await new UsageRepository(this.db).upsertPrice({
      provider: p.provider,
      model: p.model,
      inputPerMillion: p.inputPerMillion,
      outputPerMillion: p.outputPerMillion,
      effectiveFrom: p.effectiveFrom ?? new Date(),
      createdBy: p.createdBy ?? null,
    });
  }

  private async recordIn(repo: UsageRepository, rec: UsageRecord): Promise<RecordResult> {
    const at = rec.at ?? new Date();
    const promptTokens = rec.promptTokens;
    const completionTokens = rec.completionTokens ?? 0;
    const totalTokens = promptTokens + completionTokens;
    const price = await repo.priceAt(rec.provider, rec.model, at);
    const cost = costOf(price, promptTokens, completionTokens);
    const id = await repo.insertUsage({
      priceKnown: price !== undefined,
      userId: rec.userId,
      agentId: rec.agentId ?? null,
      conversationId: rec.conversationId ?? null,
      messageId: rec.messageId ?? null,
      apiKeyId: rec.apiKeyId ?? null,
      kbId: rec.kbId ?? null,
      kind: rec.kind,
      provider: rec.provider,
      model: rec.model,
      promptTokens,
      completionTokens,
      totalTokens,
      reservedTokens: 0,
      cost,
      source: rec.source,
      status: rec.status ?? 'complete',
      latencyMs: optionalMs(rec.latencyMs),
      ttftMs: optionalMs(rec.ttftMs),
      error: rec.error === undefined ? null : rec.error.slice(0, MAX_ERROR_LENGTH),
      idempotencyKey: rec.idempotencyKey ?? null,
      createdAt: at,
      finishedAt: at,
    });
    if (!id) {
      // Only reachable with a key: the earlier record stands, and its cost is the one that counted.
      const existing = await repo.findByIdempotencyKey(rec.idempotencyKey!);
      return { recorded: false, id: existing?.id, cost: existing?.cost ?? cost };
    }
    // The day is taken in UTC here rather than from the session's TimeZone, which PgBouncer does not pin.
    await repo.bumpDaily({
      day: at.toISOString().slice(0, 10),
      userId: rec.userId,
      agentId: rec.agentId ?? null,
      kind: rec.kind,
      provider: rec.provider,
      model: rec.model,
      promptTokens,
      completionTokens,
      totalTokens,
      cost,
    });
    return { recorded: true, id, cost };
  }
}

function validate(rec: UsageRecord): void {
  const tokens = (n: number | undefined, what: string) => {
    if (n !== undefined && (!Number.isSafeInteger(n) || n < 0)) throw new Error(`Usage ${what} must be a non-negative integer, got ${n}.`);
  };
  tokens(rec.promptTokens, 'promptTokens');
  tokens(rec.completionTokens, 'completionTokens');
  if (!KINDS.has(rec.kind)) throw new Error(`Unknown usage kind: ${rec.kind}`);
  if (!SOURCES.has(rec.source)) throw new Error(`Unknown usage source: ${rec.source}`);
  if (rec.status !== undefined && !STATUSES.has(rec.status)) throw new Error(`A recorded call is finished; status ${rec.status} is not allowed.`);
  if (!rec.provider || !rec.model) throw new Error('Usage needs a provider and a model.');
  if (rec.at !== undefined && Number.isNaN(rec.at.getTime())) throw new Error('Usage time is not a valid date.');
  if (rec.idempotencyKey !== undefined && rec.idempotencyKey.length === 0) throw new Error('An idempotency key must not be empty.');
}

export interface HeartbeatOptions {
  /** How often this process stamps its heartbeat. */
  beatMs?: number;
  /** A heartbeat older than this (or a row this old without one) is a dead owner. */
  staleSeconds?: number;
  /** How often orphaned pending rows are looked for. */
  sweepMs?: number;
}

/**
 * This process's heartbeat, and the sweeper that finalises pending rows of dead processes as
 * `interrupted` (at start-up and then periodically): their reservation is released and the call
 * is counted, with no tokens known. Only a row still pending is changed (finish() is exactly once),
 * so two sweepers, or a sweeper and a late finisher, never count a call twice.
 */
export class UsageHeartbeat {
  private beatTimer?: NodeJS.Timeout;
  private sweepTimer?: NodeJS.Timeout;
  private readonly beatMs: number;
  private readonly staleSeconds: number;
  private readonly sweepMs: number;

  constructor(
    private readonly db: Db,
    private readonly recorder: UsageRecorder,
    readonly owner: string,
    private readonly log: { warn: (event: string, meta: Record<string, unknown>) => void; info: (event: string, meta: Record<string, unknown>) => void },
    opts: HeartbeatOptions = {},
  ) {
    this.beatMs = opts.beatMs ?? 10_000;
    this.staleSeconds = opts.staleSeconds ?? 60;
    this.sweepMs = opts.sweepMs ?? 30_000;
  }

  async start(): Promise<void> {
    await new UsageRepository(this.db).beat(this.owner);
    await this.sweep();
    this.beatTimer = setInterval(() => void this.safely('usage.heartbeat.failed', () => new UsageRepository(this.db).beat(this.owner)), this.beatMs);
    this.sweepTimer = setInterval(() => void this.safely('usage.sweep.failed', () => this.sweep()), this.sweepMs);
    this.beatTimer.unref();
    this.sweepTimer.unref();
  }

  /** Finalises every orphaned pending row as interrupted; returns how many. */
  async sweep(): Promise<number> {
    // This process beats first: after an outage longer than the staleness its own heartbeat is
    // stale too, and its live streams must not be taken for orphans.
    await new UsageRepository(this.db).beat(this.owner);
    const retried = await this.recorder.retryUnwritten();
    if (retried.written > 0) this.log.info('usage.unwritten.finalised', { rows: retried.written });
    if (retried.failed > 0) this.log.warn('usage.unwritten.failed', { rows: retried.failed });
    if (retried.superseded > 0) this.log.warn('usage.unwritten.superseded', { rows: retried.superseded });
    const repo = new UsageRepository(this.db);
    const ids = await repo.orphanedPending(this.staleSeconds);
    let done = 0;
    for (const id of ids) {
      const r = await this.db.transaction((tx) => this.recorder.finish(id, { promptTokens: 0, completionTokens: 0, source: 'estimated', status: 'interrupted', error: 'The process that served this call stopped before it ended.' }, tx as unknown as Db));
      if (r.recorded) done += 1;
    }
    if (done > 0) this.log.info('usage.interrupted.finalised', { rows: done });
    await repo.pruneProcesses();
    return done;
  }

  /** At shutdown, after this process's own streams have ended: its heartbeat row goes. */
  async stop(): Promise<void> {
    clearInterval(this.beatTimer);
    clearInterval(this.sweepTimer);
    await this.safely('usage.unwritten.failed', () => this.recorder.retryUnwritten());
    await this.safely('usage.heartbeat.stop-failed', () => new UsageRepository(this.db).forget(this.owner));
  }

  private async safely(event: string, fn: () => Promise<unknown>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      this.log.warn(event, { error: (err as Error).message });
    }
  }
}
