import type { Response } from 'express';

/**
 * A server-sent-events response: a comment every `heartbeatMs` so that proxies keep an idle
 * stream open (nginx is told not to buffer), and writes coalesced per turn of the event loop.
 * The headers go out at the end of the turn that opened the stream, in one write with what that
 * turn wrote, and so after the I/O the turn started (on /v1, the pending usage row's query, sent
 * on the next tick) rather than ahead of it; a caller knows its stream has begun by having opened
 * one, not by `res.headersSent`. After that, a turn's first write goes out at once and the rest
 * of the turn in one write after it (a fast upstream's pieces otherwise cost a system call each).
 * Order is kept: nothing is written directly while coalesced text waits.
 */
export class SseStream {
  private waiting = '';
  private scheduled = true;
  private readonly heartbeat: NodeJS.Timeout;

  constructor(
    private readonly res: Response,
    heartbeatMs = 15_000,
  ) {
    res.status(200).set({ 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache, no-transform', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
    setImmediate(() => this.flush());
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
    this.send(text);
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
    if (!this.open) return;
    const text = this.waiting;
    this.waiting = '';
    if (text) this.send(text);
    else if (!this.res.headersSent) this.res.flushHeaders();
  }

  private send(text: string): void {
    this.res.write(text);
    // Node corks the socket on a response's write until the next tick, and a fast upstream's
    // buffered pieces are all handled in microtasks before that tick comes: the first piece would
    // wait for the last. Uncorked, it goes out now.
    const socket = this.res.socket;
    if (socket && socket.writableCorked > 0) socket.uncork();
  }
}
