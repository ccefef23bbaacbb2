import type { ContractLimits } from './limit-specs';
import { ALLOWED_FIELDS, messages } from './messages';
import { statusForErrorType } from './status';
import type { ErrorType, ExecuteRequest, JsonValue } from './types';

export type ValidationResult =
  | { readonly ok: true; readonly request: ExecuteRequest }
  | { readonly ok: false; readonly status: number; readonly errorType: ErrorType; readonly error: string };

type ValidationLimits = Pick<
  ContractLimits,
  'maxScriptBytes' | 'maxRequestBytes' | 'minTimeoutMs' | 'maxTimeoutMs' | 'maxNestingDepth'
>;

// Python's str.isspace() set, so that "'script' must not be empty" means the
// same here as in the executor's `script.strip()` (JS trim() differs on
// U+001C..U+001F, U+0085 and U+FEFF). Exported as regex source for the
// OpenAPI description's pattern.
export const PYTHON_WHITESPACE_CLASS = '\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const ONLY_PYTHON_WHITESPACE = new RegExp(`^[${PYTHON_WHITESPACE_CLASS}]*$`);

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** True when `text` has no unpaired UTF-16 surrogate, i.e. it can be encoded as UTF-8. */
export function isWellFormedUnicode(text: string): boolean {
  return !LONE_SURROGATE.test(text);
}

/**
 * True when `value` nests deeper than `maxDepth` (the value itself is level 1;
 * an empty array or object counts as a level). Iterative, because the values
 * it guards against are deep enough to overflow a recursive walk.
 */
export function exceedsNestingDepth(value: unknown, maxDepth: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [current, depth] = stack.pop()!;
    if (current === null || typeof current !== 'object') continue;
    if (depth > maxDepth) return true;
    const children = Array.isArray(current) ? current : Object.values(current);
    for (const child of children) {
      if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
    }
  }
  return false;
}

/** Byte length of the compact JSON encoding in UTF-8, the contract's measure of a request. */
export function compactJsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value), 'utf8');
}

function fail(errorType: ErrorType, error: string): ValidationResult {
  return { ok: false, status: statusForErrorType(errorType), errorType, error };
}

/**
 * Validates a parsed request body. The order of the checks is part of the
 * contract (the Python executor applies the same order), so that a request
 * with several faults gets the same sentence from every part:
 * shape, total size, nesting depth, a missing script, unknown fields, the
 * script's value, timeoutMs. A missing script comes before unknown fields so
 * that a request in another service's shape (`{"code": ...}`) is told what
 * it lacks, in the seeds' wording, rather than what it has too much of.
 */
export function validateRequest(value: unknown, limits: ValidationLimits): ValidationResult {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return fail('InvalidRequest', messages.notAnObject);
  }
  // Size before depth, as the HTTP layer must (it measures the raw body
  // before parsing it) and the Python executor does. A value too deep to
  // serialise is too deep for the contract as well.
  let bytes: number;
  try {
    bytes = compactJsonBytes(value);
  } catch (error) {
    if (error instanceof RangeError) return fail('InvalidRequest', messages.nestedTooDeeply(limits.maxNestingDepth));
    throw error;
  }
  if (bytes > limits.maxRequestBytes) {
    return fail('RequestTooLarge', messages.bodyTooLarge(limits.maxRequestBytes));
  }
  if (exceedsNestingDepth(value, limits.maxNestingDepth)) {
    return fail('InvalidRequest', messages.nestedTooDeeply(limits.maxNestingDepth));
  }
  const body = value as Record<string, unknown>;
  if (!('script' in body)) return fail('InvalidRequest', messages.scriptRequired);
  const unknownFields = Object.keys(body)
    .filter((key) => !(ALLOWED_FIELDS as readonly string[]).includes(key))
    .sort();
  if (unknownFields.length > 0) {
    return fail('InvalidRequest', messages.unknownField(unknownFields[0]!));
  }

  const script = body.script;
  if (typeof script !== 'string') return fail('InvalidRequest', messages.scriptNotString);
  if (ONLY_PYTHON_WHITESPACE.test(script)) return fail('InvalidRequest', messages.scriptEmpty);
  if (!isWellFormedUnicode(script)) return fail('InvalidRequest', messages.scriptNotUnicode);
  if (Buffer.byteLength(script, 'utf8') > limits.maxScriptBytes) {
    return fail('RequestTooLarge', messages.scriptTooLarge(limits.maxScriptBytes));
  }

  const request: { script: string; input?: JsonValue; timeoutMs?: number } = { script };
  if ('input' in body) request.input = body.input as JsonValue;
  if ('timeoutMs' in body) {
    const timeoutMs = body.timeoutMs;
    if (typeof timeoutMs !== 'number' || !Number.isInteger(timeoutMs)) {
      return fail('InvalidRequest', messages.timeoutNotInteger);
    }
    if (timeoutMs < limits.minTimeoutMs || timeoutMs > limits.maxTimeoutMs) {
      return fail('InvalidRequest', messages.timeoutOutOfRange(limits.minTimeoutMs, limits.maxTimeoutMs));
    }
    request.timeoutMs = timeoutMs;
  }
  return { ok: true, request };
}
