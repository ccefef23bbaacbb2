/**
 * A small HTTP client for the reliability suite: keep-alive agents, a hard
 * per-request deadline (a lost request must show up as a failure, never as a
 * hung test), and raw sockets for requests no well-behaved client would send.
 */
import { Agent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';

export const INVOKE_PATH = '/2015-03-31/functions/workflow-python-executor/invocations';

export interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  readonly text: string;
  /** The parsed body, or undefined when it is not JSON. */
  readonly json: unknown;
}

export interface Send {
  readonly method?: string;
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: Buffer | string;
  readonly agent?: Agent;
  /** Give up after this long; the promise rejects with a sentence naming the request. */
  readonly limitMs?: number;
}

export function keepAliveAgent(maxSockets: number): Agent {
  return new Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

export function send(baseUrl: string, options: Send): Promise<Reply> {
  const url = new URL(options.path, baseUrl);
  const limitMs = options.limitMs ?? 60_000;
  const body = options.body === undefined ? undefined : Buffer.isBuffer(options.body) ? options.body : Buffer.from(options.body, 'utf8');
  return new Promise<Reply>((resolve, reject) => {
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        path: `${url.pathname}${url.search}`,
        method: options.method ?? 'POST',
        agent: options.agent ?? false,
        headers: {
          ...(body !== undefined ? { 'Content-Length': String(body.length) } : {}),
          ...options.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          clearTimeout(timer);
          const buffer = Buffer.concat(chunks);
          const text = buffer.toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: buffer, text, json: parse(text) });
        });
        res.on('error', (error) => {
          clearTimeout(timer);
          reject(new Error(`${options.method ?? 'POST'} ${options.path}: the response broke off: ${error.message}`));
        });
      },
    );
    const timer = setTimeout(() => {
      req.destroy(new Error(`no complete answer within ${limitMs} ms`));
    }, limitMs);
    req.on('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`${options.method ?? 'POST'} ${options.path}: ${error.message}`));
    });
    req.end(body);
  });
}

export interface RawReply {
  /** The status line's code, or null when the server closed without answering. */
  readonly status: number | null;
  readonly head: string;
  readonly body: string;
  readonly json: unknown;
  /** Milliseconds from connecting until the server answered or closed. */
  readonly elapsedMs: number;
}

/**
 * Writes `chunks` to a fresh connection (pausing `pauseMs` after each) and
 * reads until the server closes or the whole answer arrived. Used for
 * malformed framing and slow-loris bodies that `http.request` will not send.
 */
export function rawExchange(
  baseUrl: string,
  chunks: readonly Buffer[],
  options: { pauseMs?: number; limitMs?: number } = {},
): Promise<RawReply> {
  const url = new URL(baseUrl);
  const limitMs = options.limitMs ?? 30_000;
  return new Promise<RawReply>((resolve, reject) => {
    const started = Date.now();
    const socket = connect({ host: url.hostname, port: Number(url.port) });
    const received: Buffer[] = [];
    let finished = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      socket.destroy();
      const text = Buffer.concat(received).toString('utf8');
      const split = text.indexOf('\r\n\r\n');
      const head = split >= 0 ? text.slice(0, split) : text;
      const body = split >= 0 ? text.slice(split + 4) : '';
      const match = /^HTTP\/1\.[01] (\d{3})/.exec(head);
      resolve({ status: match ? Number(match[1]) : null, head, body, json: parse(body), elapsedMs: Date.now() - started });
    };
    const timer = setTimeout(() => {
      if (!finished) {
        finished = true;
        socket.destroy();
        reject(new Error(`the server neither answered nor closed within ${limitMs} ms`));
      }
    }, limitMs);
    socket.on('data', (chunk: Buffer) => {
      received.push(chunk);
      // A complete answer with Content-Length: no need to wait for the close.
      const text = Buffer.concat(received).toString('utf8');
      const split = text.indexOf('\r\n\r\n');
      const length = /\r\ncontent-length: (\d+)/i.exec(text.slice(0, split));
      if (split >= 0 && length && Buffer.byteLength(text.slice(split + 4)) >= Number(length[1])) finish();
    });
    socket.on('close', finish);
    socket.on('error', finish);
    socket.on('connect', () => {
      void (async () => {
        for (const chunk of chunks) {
          if (finished || socket.destroyed) return;
          socket.write(chunk);
          if (options.pauseMs) await new Promise((r) => setTimeout(r, options.pauseMs));
        }
      })();
    });
  });
}
