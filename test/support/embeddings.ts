import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface EmbeddingCall {
  /** 1-based number of this call. */
  n: number;
  input: string[];
}

export interface EmbeddingAnswer {
  vectors: number[][];
  promptTokens: number;
}

/**
 * An OpenAI-compatible `POST /v1/embeddings` on loopback for tests: `answer` decides the vectors and
 * the reported tokens for each call; it may return a promise to hold a call (a batch in flight).
 */
export async function fakeEmbeddings(answer: (call: EmbeddingCall) => EmbeddingAnswer | Promise<EmbeddingAnswer>) {
  const calls: EmbeddingCall[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const call = { n: calls.length + 1, input: (JSON.parse(body) as { input: string[] }).input };
      calls.push(call);
      void Promise.resolve(answer(call)).then((a) =>
        res.writeHead(200, { 'Content-Type': 'application/json' }).end(
          JSON.stringify({ object: 'list', data: a.vectors.map((embedding, index) => ({ object: 'embedding', index, embedding })), usage: { prompt_tokens: a.promptTokens, total_tokens: a.promptTokens } }),
        ),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    calls,
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
