/**
 * How large a request body the API can accept and still hand to the invoker.
 *
 * API Gateway (REST API, Lambda proxy integration) puts the body as a JSON
 * string into the event it invokes the invoker with, and Lambda refuses a
 * synchronous invocation whose event is not smaller than 6,291,456 bytes
 * ("Request must be smaller than 6291456 bytes for the InvokeFunction
 * operation"). A refused invocation never reaches the invoker, so the caller
 * gets API Gateway's own 5xx instead of the contract's 413. The body limit is
 * therefore chosen so that the event fits whatever the body holds:
 *
 * - JSON escaping: a JSON string may not hold a control character raw, and
 *   U+0001 can only be written as the six bytes `\u0001`, so one body byte can
 *   become six in the event (quotes and backslashes double; invalid UTF-8
 *   becomes U+FFFD, at most `\ufffd`).
 * - The rest of the event: REST APIs limit the request line and headers
 *   together to 10,240 bytes; each of those bytes appears at most four times in
 *   the event (`headers` and `multiValueHeaders`; the path in `path`,
 *   `requestContext.path`, `requestContext.resourcePath` and `pathParameters`),
 *   escaped the same way, plus a fixed part (request context, identity).
 */

/** Lambda's synchronous invocation request limit: the event must be smaller than this. */
export const LAMBDA_SYNC_REQUEST_LIMIT_BYTES = 6_291_456;

/** The longest JSON escape of one byte (`\u0001` for U+0001). */
const JSON_ESCAPE_MAX_BYTES_PER_BYTE = 6;

/** API Gateway REST API quota: total size of the request line and header values. */
export const REQUEST_LINE_AND_HEADERS_MAX_BYTES = 10_240;

/** How often a request-line or header byte can appear in the proxy event. */
const PROXY_EVENT_MAX_REPEATS = 4;

/** Request context, identity and the event's own keys, generously rounded up. */
const PROXY_EVENT_FIXED_BYTES = 4_096;

/** The largest proxy event a body of `bodyBytes` bytes can produce. */
export function worstCaseProxyEventBytes(bodyBytes: number): number {
  const envelope = REQUEST_LINE_AND_HEADERS_MAX_BYTES * PROXY_EVENT_MAX_REPEATS * JSON_ESCAPE_MAX_BYTES_PER_BYTE + PROXY_EVENT_FIXED_BYTES;
  return bodyBytes * JSON_ESCAPE_MAX_BYTES_PER_BYTE + envelope;
}

/** The largest `maxRequestBytes` whose worst-case proxy event is still smaller than Lambda's limit. */
export const MAX_REQUEST_BYTES_IN_PROXY_EVENT = Math.floor(
  (LAMBDA_SYNC_REQUEST_LIMIT_BYTES - 1 - worstCaseProxyEventBytes(0)) / JSON_ESCAPE_MAX_BYTES_PER_BYTE,
);
