import { RequestError } from './errors';
import type { ContractLimits } from './limit-specs';
import { messages } from './messages';
import { statusForErrorType } from './status';
import { TENANT_HEADER } from './tenant';
import type { ErrorType, ExecuteRequest } from './types';
import { isWellFormedUnicode, validateRequest } from './validate';

/**
 * The HTTP layer of the contract: routes, content type and body decoding,
 * shared by the invoker handler and the local server so that both answer a
 * malformed request with the same status and sentence.
 */

export const ROUTES: Readonly<Record<string, readonly string[]>> = {
  '/execute': ['POST'],
  '/healthz': ['GET'],
  '/mcp': ['POST'],
};

/**
 * Request headers a browser may send cross-origin (the CORS preflight's
 * Allow-Headers), answered alike by the invoker and API Gateway's OPTIONS mocks.
 */
export const CORS_ALLOW_HEADERS: readonly string[] = [
  'Content-Type',
  'Authorization',
  'X-Api-Key',
  'X-Amz-Date',
  'X-Amz-Security-Token',
  'X-Amz-Content-Sha256',
  TENANT_HEADER,
  // Sent by MCP clients on every request after initialize (POST /mcp).
  'Mcp-Protocol-Version',
];

export type RouteMatch =
  | { readonly kind: 'route'; readonly path: string; readonly method: string }
  | { readonly kind: 'preflight'; readonly path: string; readonly allowed: readonly string[] };

function requestError(errorType: ErrorType, error: string, headers: Record<string, string> = {}): RequestError {
  return new RequestError(statusForErrorType(errorType), errorType, error, headers);
}

/** Caller-controlled text that goes into an error sentence: bounded and printable. */
function printable(text: string, maxChars = 200): string {
  // eslint-disable-next-line no-control-regex -- control characters are what it replaces
  const cleaned = text.replace(/[\u0000-\u001f\u007f]/g, '?');
  return cleaned.length > maxChars ? `${cleaned.slice(0, maxChars)}...` : cleaned;
}

/**
 * Matches a method and path against the API's routes. Throws a 404 for an
 * unknown path and a 405 (with an `Allow` header) for a known path with the
 * wrong method. OPTIONS is a CORS preflight only when `corsEnabled`.
 */
export function matchRoute(method: string, path: string, corsEnabled: boolean): RouteMatch {
  const upperMethod = method.toUpperCase();
  // hasOwnProperty, so that a path such as /__proto__ is not mistaken for a route.
  const allowed = Object.prototype.hasOwnProperty.call(ROUTES, path) ? ROUTES[path] : undefined;
  if (allowed === undefined) {
    throw requestError('NotFound', messages.noRoute(printable(upperMethod, 20), printable(path)));
  }
  if (allowed.includes(upperMethod)) return { kind: 'route', path, method: upperMethod };
  if (upperMethod === 'OPTIONS' && corsEnabled) return { kind: 'preflight', path, allowed };
  const allowHeader = (corsEnabled ? [...allowed, 'OPTIONS'] : allowed).join(', ');
  throw requestError('MethodNotAllowed', messages.methodNotAllowed(printable(upperMethod, 20), path, allowed), {
    Allow: allowHeader,
  });
}

/** Accepts an absent Content-Type (clients that send none) or application/json with any parameters; `curl -d` without `-H` sends a form type and gets the 415. */
export function checkContentType(contentType: string | undefined): void {
  if (contentType === undefined || contentType.trim() === '') return;
  const mediaType = contentType.split(';', 1)[0]!.trim().toLowerCase();
  if (mediaType !== 'application/json') {
    throw requestError('UnsupportedMediaType', messages.unsupportedMediaType);
  }
}

/** Decoded size of a base64 string, computed without decoding it. */
export function base64DecodedBytes(base64: string): number {
  const trimmed = base64.replace(/[\s]/g, '');
  const padding = trimmed.endsWith('==') ? 2 : trimmed.endsWith('=') ? 1 : 0;
  return Math.max(0, Math.floor((trimmed.length * 3) / 4) - padding);
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

export interface RawBody {
  /** The body as API Gateway hands it over: text, or base64 when `isBase64Encoded`. */
  readonly body: string | null | undefined;
  readonly isBase64Encoded?: boolean;
}

export interface ParsedBody {
  readonly request: ExecuteRequest;
  /** The decoded body text; forwarded as is so that numbers keep their exact spelling. */
  readonly text: string;
  /** Size of the body in bytes as received. */
  readonly bodyBytes: number;
}

/**
 * Turns a raw request body into a validated request, checking in this order:
 * size (before any decoding, so an oversized body costs nothing), strict
 * UTF-8, emptiness, JSON, then {@link validateRequest} (shape, depth, fields).
 * Throws {@link RequestError} with the contract's status and sentence.
 */
export function parseExecuteBody(raw: RawBody, limits: ContractLimits): ParsedBody {
  const body = raw.body ?? '';
  let bodyBytes: number;
  if (raw.isBase64Encoded) {
    bodyBytes = base64DecodedBytes(body);
  } else {
    bodyBytes = Buffer.byteLength(body, 'utf8');
  }
  if (bodyBytes > limits.maxRequestBytes) {
    throw requestError('RequestTooLarge', messages.bodyTooLarge(limits.maxRequestBytes));
  }

  let text: string;
  if (raw.isBase64Encoded) {
    const bytes = Buffer.from(body, 'base64');
    bodyBytes = bytes.length;
    try {
      text = strictUtf8.decode(bytes);
    } catch {
      throw requestError('InvalidRequest', messages.bodyNotUtf8);
    }
  } else {
    // A text body with an unpaired surrogate cannot have come from valid UTF-8 bytes.
    if (!isWellFormedUnicode(body)) throw requestError('InvalidRequest', messages.bodyNotUtf8);
    text = body;
  }

  if (text.trim() === '') throw requestError('InvalidRequest', messages.bodyEmpty);

  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw requestError('InvalidRequest', messages.bodyNotJson);
  }
  const result = validateRequest(value, limits);
  if (!result.ok) throw new RequestError(result.status, result.errorType, result.error);
  return { request: result.request, text, bodyBytes };
}

/** Case-insensitive header lookup over API Gateway's single- and multi-value header maps. */
export function headerValue(
  headers: Readonly<Record<string, string | undefined>> | null | undefined,
  name: string,
): string | undefined {
  if (!headers) return undefined;
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === wanted && value !== undefined) return value;
  }
  return undefined;
}
