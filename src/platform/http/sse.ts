import type { Response } from 'express';

/**
 * A server-sent-events response: headers out at once (nginx told not to buffer), a comment every
 * `heartbeatMs` so that proxies keep an idle stream open, and writes coalesced per turn of the
 * event loop: the first goes out at once, the rest of the same turn in one write after it (a fast
 * upstream's pieces otherwise cost a system call each). Order is kept: nothing is written directly
 * while coalesced text waits.
 */
export class SseStream {
  private waiting = '';
  private scheduled = false;
  private readonly heartbeat: NodeJS.Timeout;

  constructor(
    private readonly res: Response,
    heartbeatMs = 15_000,
  ) {
    res.status(200).set({ 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache, no-transform', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
    res.flushHeaders();
    this.heartbeat = setInterval(() => this.write(': keep-alive\n\n'), heartbeatMs);
    this.heartbeat.unref();
  }

  /** Whether the client can still be written to. */
  get open(): boolean {
    return !this.res.destroyed && !this.res.writableEnded;
  }

  write(text: string): void {
    if (!this.open) return;
    if (this.scheduled) {
      this.waiting += text;
      return;
    }
    this.res.write(text);
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  /** Writes what waits and ends the response. */
  end(): void {
    clearInterval(this.heartbeat);
    this.flush();
    if (this.open) this.res.end();
  }

  private flush(): void {
    this.scheduled = false;
    if (!this.waiting) return;
    const text = this.waiting;
    this.waiting = '';
    if (this.open) this.res.write(text);
  }
}
