import { createParser } from 'eventsource-parser';
import { send } from '../../lib/api';
import type { Citation } from '../../lib/types';

export type TurnEvent =
  | { event: 'meta'; data: { conversationId: string; userMessageId: string; assistantMessageId: string; agent: string; model: string } }
  | { event: 'delta'; data: { text: string } }
  | { event: 'citations'; data: { citations: Citation[] } }
  | { event: 'usage'; data: { promptTokens: number; completionTokens: number; totalTokens: number; source: 'reported' | 'estimated'; cost: string } }
  | { event: 'done'; data: { messageId: string; status: 'complete' | 'aborted' } }
  | { event: 'error'; data: { code: string; message: string; messageId?: string } };

/**
 * Posts a turn and hands each SSE event of the answer to `onEvent` as it arrives. A refusal
 * before the stream (quota, open circuit, validation) throws an ApiError with the API's message.
 */
export async function streamTurn(path: string, body: unknown, signal: AbortSignal, onEvent: (e: TurnEvent) => void): Promise<void> {
  const res = await send(path, { method: 'POST', body, signal, accept: 'text/event-stream' });
  if (!res.body) throw new Error('The server sent no answer stream.');
  const parser = createParser({
    onEvent: (ev) => {
      if (!ev.event) return;
      try {
        onEvent({ event: ev.event, data: JSON.parse(ev.data) } as TurnEvent);
      } catch {
        // A line that is not JSON is not an event of ours.
      }
    },
  });
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    parser.feed(value);
  }
}
