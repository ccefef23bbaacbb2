/**
 * Bad input: thousands of generated malformed requests against the HTTP API
 * and the Lambda Invoke API, malformed HTTP framing on raw sockets, and
 * slow-loris bodies. Every answer must be a 4xx with a JSON error sentence
 * (on the Invoke API, a JSON event the executor rejects is its answer inside
 * a 200, as on Lambda), never a 5xx or a crash; the server stays healthy
 * between batches and still runs a normal execution.
 *
 * FUZZ_SEED reproduces a run (the seed is printed); FUZZ_CASES (default 3000)
 * sets how many generated cases run, two thirds on the HTTP API.
 */
import { randomInt } from 'node:crypto';
import { INVOKE_PATH, keepAliveAgent, rawExchange, send, type RawReply, type Reply } from './support/http';
import { envInt, isSentence, runPool, squareRequest, Tally, uncleanApiError, uncleanInvokeError, wrongSquare } from './support/checks';
import { httpCase, invokeCase, invokeExpectation, Rng, type FuzzCase } from './support/fuzz-cases';
import { healthz, launch, shutdownAndInspect, waitAllReady, type Tracked } from './support/lifecycle';

const SEED = process.env.FUZZ_SEED !== undefined && process.env.FUZZ_SEED !== '' ? envInt('FUZZ_SEED', 0) : randomInt(2 ** 31);
const CASES = envInt('FUZZ_CASES', 3000);
const CONCURRENCY = envInt('FUZZ_CONCURRENCY', 8);
const BATCH = 250;
const BODY_TIMEOUT_MS = 3000;

jest.setTimeout(10 * 60_000);

let tracked: Tracked;
let headerStall: Promise<RawReply> | undefined;
const summary: string[] = [];

beforeAll(async () => {
  process.stdout.write(`fuzz: seed ${SEED} (rerun with FUZZ_SEED=${SEED}), ${CASES} cases\n`);
  tracked = await launch({ env: { BODY_TIMEOUT_MS: String(BODY_TIMEOUT_MS), SANDBOX_CONCURRENCY: '2' } });
  await waitAllReady(tracked.server);
  // Node checks header deadlines only every connectionsCheckingInterval (30 s by default), so this stall is
  // started first and judged last, overlapping the other cases instead of adding half a minute.
  headerStall = rawExchange(tracked.server.url, [Buffer.from(`POST /execute HTTP/1.1\r\nHost: ${host()}\r\nX-Slow: `, 'latin1')], { limitMs: 120_000 });
});

afterAll(async () => {
  tracked.stopSampling();
  await tracked.server.stop();
  process.stdout.write(`fuzz (seed ${SEED}): ${summary.join('; ')}\n`);
});

/** Why the answer to a generated case is wrong, or undefined when it is right. */
function judge(fuzz: FuzzCase, target: 'http' | 'invoke', reply: Reply): string | undefined {
  if (target === 'http') return uncleanApiError(reply, fuzz.httpStatuses, fuzz.httpErrorTypes);
  if (fuzz.family.startsWith('bad X-Amz')) return uncleanInvokeError(reply, [400], ['InvalidParameterValueException']);
  const expectation = invokeExpectation(fuzz.body);
  if (expectation === 'tooLarge') return uncleanInvokeError(reply, [413], ['RequestTooLargeException']);
  if (expectation === 'notJson') return uncleanInvokeError(reply, [400], ['InvalidRequestContentException']);
  // Valid JSON: the executor itself answers, with its own rejection, as a normal (not a function-error) response.
  if (reply.status !== 200) return `status ${reply.status} for a JSON event: ${reply.text.slice(0, 300)}`;
  if (reply.headers['x-amz-function-error'] !== undefined) return `a function error (the executor faulted): ${reply.text.slice(0, 300)}`;
  const body = reply.json as { ok?: unknown; errorType?: unknown; error?: unknown } | undefined;
  if (body === undefined || body === null || typeof body !== 'object') return `a payload that is not JSON: ${reply.text.slice(0, 200)}`;
  if (body.ok !== false) return `ok is ${String(body.ok)}: a malformed event was run`;
  if (body.errorType !== 'InvalidRequest' && body.errorType !== 'RequestTooLarge') return `errorType ${String(body.errorType)}: ${String(body.error)}`;
  if (!isSentence(body.error)) return `no error sentence: ${reply.text.slice(0, 200)}`;
  return undefined;
}

/** The Host header a loopback client sends; the server refuses others (DNS rebinding). */
function host(): string {
  return new URL(tracked.server.url).host;
}

async function expectHealthy(label: string): Promise<void> {
  const health = await healthz(tracked.server);
  expect({ label, status: health.status }).toEqual({ label, status: 200 });
  const reply = await send(tracked.server.url, { path: '/execute', headers: { 'Content-Type': 'application/json' }, body: squareRequest(11, label) });
  expect({ label, problem: wrongSquare(reply.json, 11, label) }).toEqual({ label, problem: undefined });
}

describe('bad input', () => {
  it(`answers ${CASES} generated malformed requests on both APIs with clean 4xx errors and stays healthy`, async () => {
    const rng = new Rng(SEED);
    const cases: { fuzz: FuzzCase; target: 'http' | 'invoke' }[] = [];
    for (let index = 0; index < CASES; index += 1) {
      const target = index % 3 === 2 ? 'invoke' : 'http';
      cases.push({ fuzz: target === 'http' ? httpCase(rng) : invokeCase(rng, INVOKE_PATH), target });
    }
    const agent = keepAliveAgent(CONCURRENCY);
    const outcomes = new Tally();
    const failures: string[] = [];
    const startedAt = Date.now();
    for (let first = 0; first < cases.length; first += BATCH) {
      const batch = cases.slice(first, first + BATCH);
      await runPool(batch.length, CONCURRENCY, async (offset) => {
        const index = first + offset;
        const { fuzz, target } = batch[offset]!;
        let reply: Reply;
        try {
          reply = await send(tracked.server.url, { method: fuzz.method, path: fuzz.path, headers: fuzz.headers, body: fuzz.body, agent, limitMs: 60_000 });
        } catch (error) {
          outcomes.add(`${target} ${fuzz.family}: transport error`);
          failures.push(`case ${index} (${target}, ${fuzz.family}): ${(error as Error).message}`);
          return;
        }
        outcomes.add(`${target} ${reply.status}`);
        const problem = judge(fuzz, target, reply);
        if (problem !== undefined) {
          failures.push(`case ${index} (${target}, ${fuzz.family}, body ${JSON.stringify(fuzz.body.subarray(0, 80).toString('latin1'))}): ${problem}`);
        }
      });
      await expectHealthy(`after fuzz batch ${first / BATCH + 1}`);
    }
    agent.destroy();
    summary.push(`${CASES} generated cases in ${Date.now() - startedAt} ms: ${outcomes.toString()}; failures ${failures.length}`);
    expect(failures.slice(0, 15)).toEqual([]);
  });

  it('answers malformed HTTP framing with a JSON 4xx (or at least a 4xx and a close) and stays healthy', async () => {
    const framings: [string, string][] = [
      ['non-numeric Content-Length', `POST /execute HTTP/1.1\r\nHost: ${host()}\r\nContent-Type: application/json\r\nContent-Length: abc\r\n\r\n{}`],
      ['Content-Length and Transfer-Encoding', `POST /execute HTTP/1.1\r\nHost: ${host()}\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`],
      ['bad chunk size', `POST /execute HTTP/1.1\r\nHost: ${host()}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`],
      ['space in header name', `POST /execute HTTP/1.1\r\nHost: ${host()}\r\nBad Header: x\r\nContent-Length: 2\r\n\r\n{}`],
      ['garbage request line', 'GARBAGE\r\n\r\n'],
      ['unknown HTTP version', `POST /execute HTTP/9.9\r\nHost: ${host()}\r\nContent-Length: 2\r\n\r\n{}`],
      ['control character in the path', `POST /exe\x01cute HTTP/1.1\r\nHost: ${host()}\r\nContent-Length: 2\r\n\r\n{}`],
      ['invoke with two Content-Lengths', `POST ${INVOKE_PATH} HTTP/1.1\r\nHost: ${host()}\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}`],
    ];
    const problems: string[] = [];
    const statuses = new Tally();
    for (const [name, text] of framings) {
      const reply = await rawExchange(tracked.server.url, [Buffer.from(text, 'latin1')], { limitMs: 20_000 });
      statuses.add(`${reply.status ?? 'closed'}${reply.json !== undefined ? ' JSON' : ''}`);
      if (reply.status === null || reply.status < 400 || reply.status >= 500) {
        problems.push(`${name}: ${reply.status === null ? 'closed without an answer' : `status ${reply.status}`}`);
      } else if (!isSentence((reply.json as { error?: unknown; message?: unknown } | undefined)?.error ?? (reply.json as { message?: unknown } | undefined)?.message)) {
        problems.push(`${name}: ${reply.status} without a JSON error sentence (head ${JSON.stringify(reply.head.split('\r\n')[0])}, body ${JSON.stringify(reply.body.slice(0, 100))})`);
      }
    }
    summary.push(`framing: ${statuses.toString()}`);
    await expectHealthy('after framing cases');
    expect(problems).toEqual([]);
  });

  it(`answers slow-loris bodies with a JSON 408 within BODY_TIMEOUT_MS (${BODY_TIMEOUT_MS} ms) without holding up executions`, async () => {
    const stalls = [
      ...Array.from({ length: 6 }, (_, index) => ({
        api: 'http',
        head: `POST /execute HTTP/1.1\r\nHost: ${host()}\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{"script": "print(${index})", "inp`,
      })),
      ...Array.from({ length: 4 }, (_, index) => ({
        api: 'invoke',
        head: `POST ${INVOKE_PATH} HTTP/1.1\r\nHost: ${host()}\r\nContent-Length: 200\r\n\r\n{"script": "print(${index})", "inp`,
      })),
      // Chunked, with the final chunk never sent.
      { api: 'http', head: `POST /execute HTTP/1.1\r\nHost: ${host()}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"scr\r\n` },
    ];
    let settled = 0;
    const pending = stalls.map(async (stall) => {
      const reply = await rawExchange(tracked.server.url, [Buffer.from(stall.head, 'latin1')], { limitMs: BODY_TIMEOUT_MS + 30_000 });
      settled += 1;
      return { stall, reply };
    });
    // While every stalled client holds its connection, executions go on.
    const during = await send(tracked.server.url, { path: '/execute', headers: { 'Content-Type': 'application/json' }, body: squareRequest(12, 'during-loris') });
    const settledWhileRunning = settled;
    const results = await Promise.all(pending);
    const problems: string[] = [];
    for (const { stall, reply } of results) {
      if (reply.status !== 408) {
        problems.push(`${stall.api}: ${reply.status === null ? 'closed without an answer' : `status ${reply.status}`}`);
        continue;
      }
      const body = reply.json as { error?: unknown; message?: unknown; errorType?: unknown } | undefined;
      if (!isSentence(stall.api === 'http' ? body?.error : body?.message)) problems.push(`${stall.api}: 408 without a JSON error sentence: ${reply.body.slice(0, 100)}`);
    }
    summary.push(`slow loris: ${results.length} stalled bodies answered ${results.map(({ reply }) => reply.status).join(',')} after ${Math.min(...results.map(({ reply }) => reply.elapsedMs))}-${Math.max(...results.map(({ reply }) => reply.elapsedMs))} ms`);
    expect(wrongSquare(during.json, 12, 'during-loris')).toBeUndefined();
    expect(settledWhileRunning).toBe(0);
    expect(problems).toEqual([]);
    await expectHealthy('after slow loris');
  });

  it('answers a client that stalls inside its headers by closing (or a 408) and stays healthy', async () => {
    const reply = await headerStall!;
    summary.push(`header stall: ${reply.status ?? 'closed'} after ${reply.elapsedMs} ms`);
    expect(reply.status === null || reply.status === 408).toBe(true);
    await expectHealthy('after header stall');
  });

  it('leaves no process and no temp folder behind after SIGTERM', async () => {
    await waitAllReady(tracked.server);
    const report = await shutdownAndInspect(tracked);
    expect(report.exit).toEqual({ code: 0, signal: null });
    expect(report.leftoverProcesses).toEqual([]);
    expect(report.leftoverDirs).toEqual([]);
  });
});
