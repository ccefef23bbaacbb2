/**
 * Small HTTP helpers shared by the local server's routes: JSON answers,
 * bounded body reading (size cap and deadline enforced while streaming) and
 * JSON answers to requests Node's HTTP parser refuses.
 */
import { maxHeaderSize, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

export function sendJson(
  res: ServerResponse,
  statusCode: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(statusCode, {
    'Content-Type': 'application/json',
    'Content-Length': String(Buffer.byteLength(text)),
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    ...headers,
  });
  res.end(text);
}

type BodyResult =
  | { readonly kind: 'ok'; readonly body: Buffer }
  | { readonly kind: 'tooLarge'; readonly declaredBytes?: number }
  | { readonly kind: 'timeout' }
  | { readonly kind: 'aborted' };

interface ReadBodyOptions {
  readonly maxBytes: number;
  readonly timeoutMs: number;
}

/**
 * Reads a request body, stopping as soon as it exceeds maxBytes or the
 * deadline passes, so a huge or trickling body never sits in memory or holds
 * a slot. The caller answers and then calls {@link finishEarly}.
 */
export function readBody(req: IncomingMessage, options: ReadBodyOptions): Promise<BodyResult> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && /^\d+$/.test(declared) && Number(declared) > options.maxBytes) {
    return Promise.resolve({ kind: 'tooLarge', declaredBytes: Number(declared) });
  }
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let receivedBytes = 0;
    let settled = false;
    const settle = (result: BodyResult): void => {
      if (settled) {
        return;
      }
      settled = true;
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onAbort);
      req.off('aborted', onAbort);
      req.off('close', onClose);
      if (result.kind !== 'ok') {
        req.pause();
      }
      resolve(result);
    };
    const onData = (chunk: Buffer): void => {
      receivedBytes += chunk.length;
      if (receivedBytes > options.maxBytes) {
        settle({ kind: 'tooLarge' });
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => settle({ kind: 'ok', body: Buffer.concat(chunks, receivedBytes) });
    const onAbort = (): void => settle({ kind: 'aborted' });
    const onClose = (): void => {
      if (!req.complete) {
        settle({ kind: 'aborted' });
      }
    };
    const timer = setTimeout(() => settle({ kind: 'timeout' }), options.timeoutMs);
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onAbort);
    req.on('aborted', onAbort);
    req.on('close', onClose);
  });
}

/** The most of a refused body that is read and discarded after its early answer. */
const MAX_DRAIN_BYTES = 100 * 1024 * 1024;
/** The longest a refused body is read and discarded after its early answer. */
const MAX_DRAIN_MS = 60_000;

/**
 * After answering before the body was fully read: the client may still be
 * sending. Closing at once would reset the connection before the client
 * reads the answer (clients that send the whole body before reading, as most
 * HTTP libraries do, see EPIPE or ECONNRESET instead of the 413), so the rest
 * is read and discarded until it ends, as long as it keeps coming (a pause
 * longer than idleMs ends it), for at most MAX_DRAIN_MS and MAX_DRAIN_BYTES.
 * A body that ends in time leaves the connection in step, and it stays open
 * as any keep-alive connection; one cut off is closed. The answer must
 * therefore not say `Connection: close` unless idleMs is 0 (Node closes such
 * a connection as soon as the answer is written).
 */
export function finishEarly(req: IncomingMessage, res: ServerResponse, idleMs: number): void {
  if (req.complete) {
    return;
  }
  // Reading starts now, before the answer: a request nobody reads when its answer is written is
  // discarded by Node's server itself, which takes the 'data' listeners away and so the deadlines too.
  let drainedBytes = 0;
  let idle: NodeJS.Timeout | undefined;
  const cut = (): void => {
    req.socket.destroy();
  };
  const overall = setTimeout(cut, MAX_DRAIN_MS);
  overall.unref();
  const waitIdle = (): void => {
    clearTimeout(idle);
    if (req.complete) return;
    idle = setTimeout(cut, idleMs);
    idle.unref();
  };
  const stop = (): void => {
    clearTimeout(overall);
    clearTimeout(idle);
  };
  req.on('data', (chunk: Buffer) => {
    drainedBytes += chunk.length;
    if (drainedBytes > MAX_DRAIN_BYTES) {
      cut();
    } else if (res.writableFinished) {
      waitIdle();
    }
  });
  // The idle deadline runs from the answer on: before it, the client has had no reason to stop.
  res.once('finish', waitIdle);
  req.once('end', stop);
  req.socket.once('close', stop);
  req.resume();
}

/** A request Node's HTTP parser refused before any route saw it. */
export interface MalformedRequest {
  readonly statusCode: number;
  /** One sentence saying what was wrong. */
  readonly message: string;
  /** The request target, when the request line could be read (it picks the API's error shape). */
  readonly target?: string;
}

/** The JSON body (and extra headers) of an error answer written straight to a socket. */
export interface ErrorAnswer {
  readonly body: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

type ParserError = Error & { code?: string; reason?: string; rawPacket?: Buffer };

/** What each llhttp refusal means, said so that the client's author can fix it. */
const PARSER_ERRORS: Readonly<Record<string, string>> = {
  HPE_INVALID_CONTENT_LENGTH: 'its Content-Length header is not a whole number',
  HPE_UNEXPECTED_CONTENT_LENGTH: 'it repeats Content-Length or sends it together with Transfer-Encoding',
  HPE_INVALID_TRANSFER_ENCODING: 'its Transfer-Encoding is not chunked or is sent together with Content-Length',
  HPE_INVALID_CHUNK_SIZE: 'a chunk size of its chunked body is not a hexadecimal number',
  HPE_INVALID_HEADER_TOKEN: 'a header name or value contains a character HTTP does not allow',
  HPE_INVALID_METHOD: 'its request line does not start with an HTTP method',
  HPE_INVALID_URL: 'its request target contains a character HTTP does not allow',
  HPE_INVALID_VERSION: 'its request line does not end with HTTP/1.0 or HTTP/1.1',
  HPE_INVALID_CONSTANT: 'its request line or headers are not HTTP/1.1 syntax',
  HPE_LF_EXPECTED: 'a line of its head does not end with CRLF',
  HPE_CR_EXPECTED: 'a line of its head does not end with CRLF',
  HPE_STRICT: 'it breaks the HTTP/1.1 syntax',
};

/** Status and sentence for a parser refusal, as Node's default answer would pick the status. */
function describeClientError(error: ParserError, server: Pick<Server, 'headersTimeout' | 'requestTimeout'>): MalformedRequest {
  const head = error.rawPacket?.subarray(0, 8192).toString('latin1') ?? '';
  const target = /^[A-Za-z]+ (\S+) HTTP\//.exec(head)?.[1];
  const withTarget = (answer: Omit<MalformedRequest, 'target'>): MalformedRequest => (target !== undefined ? { ...answer, target } : answer);
  switch (error.code) {
    case 'HPE_HEADER_OVERFLOW':
      return withTarget({
        statusCode: 431,
        message: `The request head is larger than the ${maxHeaderSize} bytes the server accepts; send fewer or shorter headers.`,
      });
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return withTarget({ statusCode: 413, message: 'The chunk extensions of the request body are larger than the server accepts; send the body without them.' });
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return withTarget({
        statusCode: 408,
        message:
          `The request did not arrive in time: the server waits ${server.headersTimeout} ms for the headers ` +
          `and ${server.requestTimeout} ms for the whole request; send the whole request at once.`,
      });
    default: {
      const known = error.code !== undefined ? PARSER_ERRORS[error.code] : undefined;
      const reason = (error.reason ?? error.message).replace(/[^\x20-\x7e]/g, '?').slice(0, 120);
      return withTarget({
        statusCode: 400,
        message: `The HTTP request is malformed: ${known ?? `the server's HTTP parser refused it (${error.code ?? 'unknown error'}: ${reason})`}; fix the request's framing and send it again.`,
      });
    }
  }
}

/**
 * Answers requests Node's HTTP parser refuses (bad Content-Length, CL with
 * TE, bad chunk size, garbage request line, oversized head, header or
 * request timeout) with a JSON error built by `render` instead of Node's bare
 * `400 Bad Request`, then closes the connection: after a framing error the
 * rest of the stream cannot be trusted.
 */
export function answerMalformedRequests(server: Server, render: (problem: MalformedRequest) => ErrorAnswer): void {
  const answered = new WeakSet<Duplex>();
  server.on('clientError', (error: ParserError, socket: Duplex) => {
    if (answered.has(socket)) {
      return; // the parser may complain again about bytes that follow; one answer is enough
    }
    answered.add(socket);
    // As Node's own handler does: answer only when no response has started on this connection.
    const inFlight = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
    if (error.code === 'ECONNRESET' || !socket.writable || inFlight?.headersSent === true) {
      socket.destroy();
      return;
    }
    const problem = describeClientError(error, server);
    const answer = render(problem);
    const text = JSON.stringify(answer.body);
    const headers: Record<string, string> = {
      'Content-Type': 'application/json',
      'Content-Length': String(Buffer.byteLength(text)),
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
      ...answer.headers,
      Connection: 'close',
    };
    const head = [`HTTP/1.1 ${problem.statusCode} ${STATUS_CODES[problem.statusCode] ?? 'Error'}`, ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`)];
    const timer = setTimeout(() => socket.destroy(), 2000);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
    socket.end(`${head.join('\r\n')}\r\n\r\n${text}`, () => socket.destroy());
  });
}
