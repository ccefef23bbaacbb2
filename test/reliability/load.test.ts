/**
 * Load: thousands of executions through the real local server at client
 * concurrency 8, each with a unique input whose result and stdout are
 * checked. Nothing may be lost or wrong, and every non-200 must be a JSON
 * error. Most requests use the HTTP API (through the invoker handler); every
 * tenth uses the Lambda Invoke API directly, so both front doors carry load.
 *
 * Sizes: LOAD_REQUESTS (default 5000), LOAD_CONCURRENCY (default 8),
 * LOAD_RUNTIMES (SANDBOX_CONCURRENCY of the server, default 4: more runtimes overlap the
 * per-execution worker recycling, which is what bounds throughput).
 */
import { randomUUID } from 'node:crypto';
import { INVOKE_PATH, keepAliveAgent, send, type Reply } from './support/http';
import { envInt, labelOf, runPool, squareRequest, Tally, uncleanApiError, wrongSquare } from './support/checks';
import { launch, shutdownAndInspect, waitAllReady, type Tracked } from './support/lifecycle';

const REQUESTS = envInt('LOAD_REQUESTS', 5000);
const CONCURRENCY = envInt('LOAD_CONCURRENCY', 8);
const RUNTIMES = envInt('LOAD_RUNTIMES', 4);

jest.setTimeout(15 * 60_000);

let tracked: Tracked | undefined;

afterAll(async () => {
  if (tracked !== undefined) {
    tracked.stopSampling();
    await tracked.server.stop();
  }
});

describe('the local server under sustained load', () => {
  it(`answers ${REQUESTS} unique executions at concurrency ${CONCURRENCY} with no wrong answer, no lost request and no process or temp folder left`, async () => {
    // Nothing may be turned away: the queue holds every waiting client, for as long as a busy machine needs.
    tracked = await launch({ env: { SANDBOX_CONCURRENCY: String(RUNTIMES), QUEUE_LIMIT: String(Math.max(32, CONCURRENCY * 2)), QUEUE_WAIT_MS: '120000' } });
    const { server } = tracked;
    await waitAllReady(server);
    const agent = keepAliveAgent(CONCURRENCY);
    const outcomes = new Tally();
    const wrong: string[] = [];
    const unclean: string[] = [];
    const answered = new Set<number>();
    const runTag = randomUUID().slice(0, 8);
    const startedAt = Date.now();

    await runPool(REQUESTS, CONCURRENCY, async (index) => {
      const n = index + 1;
      const tag = `${runTag}-${n}`;
      const viaInvoke = index % 10 === 9;
      let reply: Reply;
      try {
        reply = await send(server.url, {
          path: viaInvoke ? INVOKE_PATH : '/execute',
          headers: { 'Content-Type': 'application/json' },
          body: squareRequest(n, tag),
          agent,
          limitMs: 120_000,
        });
      } catch (error) {
        outcomes.add(`transport: ${(error as Error).message.slice(0, 80)}`);
        return;
      }
      answered.add(n);
      outcomes.add(`${viaInvoke ? 'invoke ' : ''}${labelOf(reply)}`);
      if (reply.status === 200) {
        if (viaInvoke && reply.headers['x-amz-function-error'] !== undefined) {
          wrong.push(`n=${n}: function error ${reply.text.slice(0, 200)}`);
          return;
        }
        const problem = wrongSquare(reply.json, n, tag);
        if (problem !== undefined) wrong.push(`n=${n} (${viaInvoke ? 'invoke' : 'http'}): ${problem}`);
      } else if (!viaInvoke) {
        const problem = uncleanApiError(reply, [400, 413, 415, 422, 429, 500, 503, 504]);
        if (problem !== undefined) unclean.push(`n=${n}: ${problem}`);
      }
    });
    const elapsedMs = Date.now() - startedAt;
    agent.destroy();

    const lost = REQUESTS - answered.size;
    process.stdout.write(
      `load: ${REQUESTS} requests, concurrency ${CONCURRENCY}, ${RUNTIMES} runtimes, ${elapsedMs} ms ` +
        `(${((REQUESTS * 1000) / elapsedMs).toFixed(1)} req/s); outcomes: ${outcomes.toString()}; ` +
        `wrong ${wrong.length}, lost ${lost}, unclean errors ${unclean.length}\n`,
    );
    expect(wrong.slice(0, 10)).toEqual([]);
    expect(unclean.slice(0, 10)).toEqual([]);
    expect(lost).toBe(0);
    // Nothing in this run should fail at all: no fault is injected and the queue is larger than the client concurrency.
    expect(outcomes.get('200') + outcomes.get('invoke 200')).toBe(REQUESTS);

    const runtimes = await waitAllReady(server);
    expect(runtimes.reduce((sum, runtime) => sum + runtime.restarts, 0)).toBe(0);

    const report = await shutdownAndInspect(tracked);
    tracked = undefined;
    expect(report.exit).toEqual({ code: 0, signal: null });
    expect(report.leftoverProcesses).toEqual([]);
    expect(report.leftoverDirs).toEqual([]);
  });
});
