import type { IncomingMessage } from 'node:http';
import { toProxyEvent } from '../../local/api-gateway';
import { resolveConfig } from '../../lib/config';
import {
  LAMBDA_SYNC_REQUEST_LIMIT_BYTES,
  MAX_REQUEST_BYTES_IN_PROXY_EVENT,
  REQUEST_LINE_AND_HEADERS_MAX_BYTES,
  worstCaseProxyEventBytes,
} from '../../lib/proxy-event-size';

/*
 * The body limit is chosen so that API Gateway's event for any body up to it
 * stays under Lambda's request limit. These tests serialize real proxy events
 * (the shape the local server builds for the same handler) with the worst
 * content a caller can send, and compare their size with the arithmetic.
 */

/** A request as the local server's event builder reads it: method, raw headers, socket. */
function request(method: string, rawHeaders: string[]): IncomingMessage {
  const headers: Record<string, string> = {};
  for (let index = 0; index + 1 < rawHeaders.length; index += 2) headers[rawHeaders[index].toLowerCase()] = rawHeaders[index + 1];
  return { method, rawHeaders, headers, httpVersion: '1.1', socket: { remoteAddress: '203.0.113.7' } } as unknown as IncomingMessage;
}

function eventBytes(body: string, path: string, headerValue: string): number {
  const event = toProxyEvent({
    req: request('POST', ['Content-Type', 'application/json', 'X-Fill', headerValue, 'User-Agent', headerValue]),
    path,
    query: new URLSearchParams(),
    body: Buffer.from(body, 'utf8'),
    requestId: 'c6af9ac6-7b61-11e6-9a41-93e8deadbeef',
  });
  return Buffer.byteLength(JSON.stringify(event), 'utf8');
}

describe('the proxy event API Gateway builds for a request body', () => {
  it('stays under Lambda\'s request limit for a body of the largest allowed size made only of characters JSON must escape as \\u00XX', () => {
    // Fill the request line and header budget with the same escape-heavy
    // content, in the places that are repeated in the event.
    const third = Math.floor(REQUEST_LINE_AND_HEADERS_MAX_BYTES / 3);
    const path = `/${'\u0001'.repeat(third - 1)}`;
    const worst = eventBytes('\u0001'.repeat(MAX_REQUEST_BYTES_IN_PROXY_EVENT), path, '\u0001'.repeat(third));

    expect(worst).toBeLessThanOrEqual(worstCaseProxyEventBytes(MAX_REQUEST_BYTES_IN_PROXY_EVENT));
    expect(worst).toBeLessThan(LAMBDA_SYNC_REQUEST_LIMIT_BYTES);
  });

  it('would not fit for a 1 MiB body of such characters, the limit before this arithmetic', () => {
    expect(eventBytes('\u0001'.repeat(1_048_576), '/execute', 'curl/8.5.0')).toBeGreaterThanOrEqual(LAMBDA_SYNC_REQUEST_LIMIT_BYTES);
  });

  it('is the largest body limit that fits: one byte more and the worst case reaches the limit', () => {
    expect(worstCaseProxyEventBytes(MAX_REQUEST_BYTES_IN_PROXY_EVENT)).toBeLessThan(LAMBDA_SYNC_REQUEST_LIMIT_BYTES);
    expect(worstCaseProxyEventBytes(MAX_REQUEST_BYTES_IN_PROXY_EVENT + 1)).toBeGreaterThanOrEqual(LAMBDA_SYNC_REQUEST_LIMIT_BYTES);
  });

  it('bounds the default body limit and every accepted maxRequestBytes', () => {
    expect(resolveConfig().limits.maxRequestBytes).toBeLessThanOrEqual(MAX_REQUEST_BYTES_IN_PROXY_EVENT);
    expect(resolveConfig({ maxRequestBytes: MAX_REQUEST_BYTES_IN_PROXY_EVENT }).limits.maxRequestBytes).toBe(MAX_REQUEST_BYTES_IN_PROXY_EVENT);
    expect(() => resolveConfig({ maxRequestBytes: MAX_REQUEST_BYTES_IN_PROXY_EVENT + 1 })).toThrow(/maxRequestBytes/);
  });
});
