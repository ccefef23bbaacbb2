/**
 * Generated malformed requests. Every generator produces something the
 * contract rejects (never a request that would run), so the expected answer
 * can be stated exactly; a seeded PRNG makes every failure reproducible from
 * the printed seed and case index.
 */

import { DEFAULT_LIMITS } from '../../../contract';

/** mulberry32: tiny, fast, and good enough to spread fuzz cases. */
export class Rng {
  private state: number;

  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }

  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }

  bytes(length: number): Buffer {
    const buffer = Buffer.alloc(length);
    for (let index = 0; index < length; index += 1) buffer[index] = Math.floor(this.next() * 256);
    return buffer;
  }

  word(maxLength = 12): string {
    const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789';
    let text = '';
    const length = this.int(1, maxLength);
    for (let index = 0; index < length; index += 1) text += alphabet[Math.floor(this.next() * alphabet.length)];
    return text;
  }
}

export type Target = 'http' | 'invoke';

export interface FuzzCase {
  readonly family: string;
  readonly method: string;
  /** Path relative to the server; the invoke target's cases use the invocations path. */
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
  /** Statuses the HTTP API may answer (the Invoke API's expectation is derived from the payload). */
  readonly httpStatuses: readonly number[];
  /** HTTP API errorTypes allowed, when one is certain. */
  readonly httpErrorTypes?: readonly string[];
}

const MAX_REQUEST_BYTES = DEFAULT_LIMITS.maxRequestBytes;
const MAX_SCRIPT_BYTES = 64 * 1024;
const VALID_SCRIPT = 'def main(x):\n    return x\n';

const WRONG_SCRIPTS: readonly unknown[] = [0, -1, 3.5, true, false, null, [], ['print(1)'], {}, { code: 'print(1)' }, '', ' ', '\n\t \n'];
const WRONG_TIMEOUTS: readonly unknown[] = ['1000', '', true, false, null, [], [1000], {}, { ms: 1000 }, 1500.5, 0.1, -1, 0, 99, 25001, 1e12, -1e12, 2 ** 53];
const WRONG_TOP_LEVEL = ['[]', '[1,2]', '"print(1)"', '42', '-0', 'true', 'false', 'null', '[{"script":"print(1)"}]', '""'];
const BAD_CONTENT_TYPES = [
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/xml',
  'application/jsonx',
  'application/json-patch+json',
  'text/json',
  'application/octet-stream',
  '*/*',
  'json',
];
/** Byte sequences that are not UTF-8: lone continuation, overlong, surrogate, truncated, beyond U+10FFFF. */
const INVALID_UTF8: readonly Buffer[] = [
  Buffer.from([0xff]),
  Buffer.from([0xfe, 0xff]),
  Buffer.from([0x80]),
  Buffer.from([0xc0, 0xaf]),
  Buffer.from([0xe0, 0x80, 0xaf]),
  Buffer.from([0xed, 0xa0, 0x80]),
  Buffer.from([0xf4, 0x90, 0x80, 0x80]),
  Buffer.from([0xe2, 0x82]),
  Buffer.from([0xf0, 0x9f, 0x98]),
];

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

function nested(levels: number, kind: 'list' | 'object'): string {
  return kind === 'list' ? `${'['.repeat(levels)}${']'.repeat(levels)}` : `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;
}

type Generator = (rng: Rng) => Omit<FuzzCase, 'method' | 'path' | 'headers'> & { method?: string; path?: string; headers?: Record<string, string> };

const JSON_TYPE = { 'Content-Type': 'application/json' };

/** Each family with a weight: cheap families often, megabyte bodies rarely. */
const GENERATORS: readonly (readonly [number, string, Generator])[] = [
  [8, 'random bytes', (rng) => ({ family: 'random bytes', body: Buffer.concat([rng.pick([Buffer.from('{'), Buffer.from('['), Buffer.alloc(0)]), rng.bytes(rng.int(1, 600))]), httpStatuses: [400], httpErrorTypes: ['InvalidRequest'] })],
  [8, 'truncated JSON', (rng) => {
    const full = json({ script: VALID_SCRIPT, input: { n: rng.int(0, 1000), s: rng.word(), l: [1, 2, { k: 'v' }] }, timeoutMs: 1000 });
    return { family: 'truncated JSON', body: full.subarray(0, rng.int(1, full.length - 1)), httpStatuses: [400], httpErrorTypes: ['InvalidRequest'] };
  }],
  [8, 'wrong script type', (rng) => ({ family: 'wrong script type', body: json({ script: rng.pick(WRONG_SCRIPTS), input: rng.word() }), httpStatuses: [400], httpErrorTypes: ['InvalidRequest'] })],
  [8, 'wrong timeoutMs', (rng) => ({ family: 'wrong timeoutMs', body: json({ script: VALID_SCRIPT, timeoutMs: rng.pick(WRONG_TIMEOUTS) }), httpStatuses: [400], httpErrorTypes: ['InvalidRequest'] })],
  [5, 'not an object', (rng) => ({ family: 'not an object', body: Buffer.from(rng.pick(WRONG_TOP_LEVEL)), httpStatuses: [400], httpErrorTypes: ['InvalidRequest'] })],
  [4, 'script missing', (rng) => ({ family: 'script missing', body: json(rng.pick([{}, { input: 1 }, { timeoutMs: 1000 }, { input: { script: 'print(1)' } }])), httpStatuses: [400], httpErrorTypes: ['InvalidRequest'] })],
  [8, 'unknown field', (rng) => {
    let name = rng.word();
    if (['script', 'input', 'timeoutMs', 'requestId', 'artifactUpload', 'action'].includes(name)) name = `x${name}`;
    const value = rng.pick<unknown>([1, 'x', null, [], {}, true]);
    return { family: 'unknown field', body: json({ script: VALID_SCRIPT, [name]: value }), httpStatuses: [400], httpErrorTypes: ['InvalidRequest'] };
  }],
  [6, 'deep nesting', (rng) => {
    // The input's levels come on top of the request object's one: every pick is too deep.
    const depth = DEFAULT_LIMITS.maxNestingDepth;
    const levels = rng.pick([depth, depth + 1, 100, 1000, rng.int(depth + 1, 5000), 50_000]);
    return {
      family: 'deep nesting',
      body: Buffer.from(`{"script":${JSON.stringify(VALID_SCRIPT)},"input":${nested(levels, rng.pick(['list', 'object'] as const))}}`),
      httpStatuses: [400],
      httpErrorTypes: ['InvalidRequest'],
    };
  }],
  [6, 'invalid UTF-8', (rng) => {
    const bad = rng.pick(INVALID_UTF8);
    const where = rng.int(0, 2);
    const parts = where === 0
      ? [Buffer.from('{"script":"print(1)'), bad, Buffer.from('"}')]
      : where === 1
        ? [Buffer.from('{"script":"print(1)","input":"'), bad, Buffer.from('"}')]
        : [Buffer.from('{"script":"print(1)","input":{"'), bad, Buffer.from('":1}}')];
    return { family: 'invalid UTF-8', body: Buffer.concat(parts), httpStatuses: [400], httpErrorTypes: ['InvalidRequest'] };
  }],
  [3, 'lone surrogate escape', (rng) => ({
    family: 'lone surrogate escape',
    body: Buffer.from(`{"script":"print(1)${rng.pick(['\\ud800', '\\udfff', '\\udc00x', '\\ud83d'])}"}`),
    httpStatuses: [400],
    httpErrorTypes: ['InvalidRequest'],
  })],
  [5, 'wrong content type', (rng) => ({
    family: 'wrong content type',
    body: json({ script: VALID_SCRIPT }),
    headers: { 'Content-Type': rng.pick(BAD_CONTENT_TYPES) },
    httpStatuses: [415],
    httpErrorTypes: ['UnsupportedMediaType'],
  })],
  [4, 'empty body', (rng) => ({ family: 'empty body', body: Buffer.from(rng.pick(['', ' ', '\n', '\t\r\n '])), httpStatuses: [400], httpErrorTypes: ['InvalidRequest'] })],
  [4, 'duplicate keys', (rng) => ({
    family: 'duplicate keys',
    // The last value wins in both JSON.parse and Python's json: it is always the invalid one.
    body: Buffer.from(rng.pick([
      `{"script":${JSON.stringify(VALID_SCRIPT)},"script":42}`,
      `{"script":${JSON.stringify(VALID_SCRIPT)},"timeoutMs":1000,"timeoutMs":"1000"}`,
      `{"script":${JSON.stringify(VALID_SCRIPT)},"script":""}`,
      `{"script":${JSON.stringify(VALID_SCRIPT)},"timeoutMs":1000,"timeoutMs":99}`,
    ])),
    httpStatuses: [400],
    httpErrorTypes: ['InvalidRequest'],
  })],
  [4, 'NaN literal', (rng) => ({
    family: 'NaN literal',
    body: Buffer.from(`{"script":${JSON.stringify(VALID_SCRIPT)},"${rng.pick(['input', 'timeoutMs'])}":${rng.pick(['NaN', 'Infinity', '-Infinity', 'undefined', "'x'", '0x10', '01', '.5', '+1'])}}`),
    httpStatuses: [400],
    httpErrorTypes: ['InvalidRequest'],
  })],
  [2, 'script over 64 KiB', (rng) => ({
    family: 'script over 64 KiB',
    body: json({ script: `#${'x'.repeat(MAX_SCRIPT_BYTES + rng.int(0, 4096))}` }),
    httpStatuses: [413],
    httpErrorTypes: ['RequestTooLarge'],
  })],
  [1, 'body over the request limit', (rng) => ({
    family: 'body over the request limit',
    body: json({ script: VALID_SCRIPT, input: 'y'.repeat(MAX_REQUEST_BYTES + rng.int(1, 200_000)) }),
    httpStatuses: [413],
    httpErrorTypes: ['RequestTooLarge'],
  })],
  [3, 'wrong method or path', (rng) => {
    const route = rng.pick([
      { method: 'GET', path: '/execute', status: 405 },
      { method: 'PUT', path: '/execute', status: 405 },
      { method: 'DELETE', path: '/execute', status: 405 },
      { method: 'POST', path: '/healthz', status: 405 },
      { method: 'POST', path: `/${rng.word()}`, status: 404 },
      { method: 'POST', path: '/execute/extra', status: 404 },
      { method: 'POST', path: '/__proto__', status: 404 },
    ]);
    return { family: 'wrong method or path', method: route.method, path: route.path, body: json({ script: VALID_SCRIPT }), httpStatuses: [route.status] };
  }],
];

const TOTAL_WEIGHT = GENERATORS.reduce((sum, [weight]) => sum + weight, 0);

/** One case for the HTTP API (`/execute`, JSON content type unless the family says otherwise). */
export function httpCase(rng: Rng): FuzzCase {
  let roll = rng.next() * TOTAL_WEIGHT;
  for (const [weight, , generate] of GENERATORS) {
    roll -= weight;
    if (roll <= 0) {
      const made = generate(rng);
      return { method: 'POST', path: '/execute', ...made, headers: made.headers ?? { ...JSON_TYPE } };
    }
  }
  throw new Error('unreachable: the weights cover the whole roll');
}

/** One case for the Invoke API: the same bodies (content type is irrelevant there), plus bad invocation headers. */
export function invokeCase(rng: Rng, invokePath: string): FuzzCase {
  if (rng.next() < 0.05) {
    const header = rng.pick(['X-Amz-Invocation-Type', 'X-Amz-Log-Type']);
    return {
      family: `bad ${header}`,
      method: 'POST',
      path: invokePath,
      headers: { [header]: rng.pick(['Bogus', 'requestresponse', 'Event ', 'TAIL', '']).replace(/^$/, 'x') },
      body: json({ script: VALID_SCRIPT }),
      httpStatuses: [],
    };
  }
  let made = httpCase(rng);
  // Route and method fuzzing belong to the HTTP API; on the Invoke API they would just be 404/405s.
  // Route fuzzing belongs to the HTTP API, and Lambda ignores Content-Type (that family is a valid event there).
  while (made.family === 'wrong method or path' || made.family === 'wrong content type') made = httpCase(rng);
  return { ...made, method: 'POST', path: invokePath };
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** What Lambda does with a payload: 413 above 6 MB, 400 when it is not JSON, else the function runs. */
export function invokeExpectation(body: Buffer): 'tooLarge' | 'notJson' | 'functionAnswers' {
  if (body.length > 6 * 1024 * 1024) return 'tooLarge';
  if (body.length === 0) return 'functionAnswers';
  try {
    JSON.parse(strictUtf8.decode(body));
    return 'functionAnswers';
  } catch {
    return 'notJson';
  }
}
