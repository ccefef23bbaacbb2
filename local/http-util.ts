/**
 * Small HTTP helpers shared by the local server's routes: JSON answers and
 * bounded body reading (size cap and deadline enforced while streaming).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

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

export type BodyResult =
  | { readonly kind: 'ok'; readonly body: Buffer }
  | { readonly kind: 'tooLarge'; readonly declaredBytes?: number }
  | { readonly kind: 'timeout' }
  | { readonly kind: 'aborted' };

export interface ReadBodyOptions {
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

/**
 * After answering before the body was fully read: the client may still be
 * sending. Closing at once would reset the connection before the client
 * reads the answer, so the rest is discarded for a short while, then the
 * socket is closed.
 */
export function finishEarly(req: IncomingMessage, res: ServerResponse, lingerMs = 2000): void {
  res.on('finish', () => {
    req.on('data', () => undefined);
    req.resume();
    const timer = setTimeout(() => req.socket.destroy(), lingerMs);
    timer.unref();
    req.socket.once('close', () => clearTimeout(timer));
  });
}

/** Header value as one string (Node joins repeated headers for most names). */
export function headerValue(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name.toLowerCase()];
  if (Array.isArray(value)) {
    return value.join(', ');
  }
  return value;
}
