/**
 * What callers hear when the local server has no free runtime: GET /healthz
 * answers at once (a liveness probe must not wait behind executions), and
 * work beyond what the runtimes can start in time is refused with a
 * capacity answer before it runs, never a 504 that blames the script, and
 * never run afterwards for a caller who was already told no.
 */
import { localHealth, postExecute, startServer, waitUntil, type RunningServer } from './server-process';

describe('GET /healthz while every runtime is busy', () => {
  let server: RunningServer;

  beforeAll(async () => {
    server = await startServer({ env: { SANDBOX_CONCURRENCY: '1', TENANCY: 'shared' } });
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('answers from the last report, while the execution that holds the only runtime still runs', async () => {
    let settled = false;
    const running = postExecute(server.url, { script: 'import time\ndef main():\n    time.sleep(4)\n    return "slept"' }).finally(() => {
      settled = true;
    });
    await waitUntil(async () => (await localHealth(server.url)).busy === 1, 'the execution to take the only runtime');

    const health = await fetch(`${server.url}/healthz`);
    const stillRunning = !settled;

    expect(health.status).toBe(200);
    const body = (await health.json()) as Record<string, any>;
    expect(body).toMatchObject({ status: 'ok', fromLastReport: true });
    expect(Object.keys(body.executor.preloads)).toEqual(['numpy', 'pandas', 'matplotlib']);
    expect(Date.parse(body.reportedAt)).not.toBeNaN();
    expect(stillRunning).toBe(true);
    expect((await running).body.result).toBe('slept');
  });

  it('asks an executor again once a runtime waits for work', async () => {
    await waitUntil(async () => (await localHealth(server.url)).idle === 1, 'the runtime to wait for work');
    const body = (await (await fetch(`${server.url}/healthz`)).json()) as Record<string, unknown>;
    expect(body.status).toBe('ok');
    expect(body.fromLastReport).toBeUndefined();
  });
});

describe('more parallel work than the runtimes can start in time', () => {
  let server: RunningServer;

  beforeAll(async () => {
    // Short executions make the invoker's default wait short too: the old server timed queued requests out (504).
    server = await startServer({ env: { SANDBOX_CONCURRENCY: '1', TENANCY: 'shared', EXECUTOR_MAX_TIMEOUT_MS: '1000', EXECUTOR_DEFAULT_TIMEOUT_MS: '1000', FUNCTION_TIMEOUT_S: '3' } });
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('refuses what waited too long with 429 and a sentence about capacity, never 504, and never runs it', async () => {
    const started = (await localHealth(server.url)).runtimes.reduce((sum, runtime) => sum + runtime.invocations, 0);
    const requests = Array.from({ length: 14 }, (_, id) =>
      postExecute(server.url, { script: `import time\ndef main():\n    time.sleep(0.8)\n    return ${id}`, timeoutMs: 1000 }),
    );
    const answers = await Promise.all(requests);

    const statuses = answers.map((answer) => answer.status);
    expect(statuses).not.toContain(504);
    const completed = answers.filter((answer) => answer.status === 200);
    const refused = answers.filter((answer) => answer.status !== 200);
    expect(completed.length).toBeGreaterThan(0);
    expect(refused.length).toBeGreaterThan(0);
    for (const answer of refused) {
      expect([429, 503]).toContain(answer.status);
      expect(answer.body).toMatchObject({ ok: false, errorType: answer.status === 429 ? 'Throttled' : 'ServiceUnavailable' });
      expect(answer.body.error).toMatch(/running right now|no capacity/);
    }
    // Every invocation a runtime took is counted; after the burst, nothing more may start: refused work never ran.
    await waitUntil(async () => {
      const health = await localHealth(server.url);
      return health.queued === 0 && health.busy === 0;
    }, 'the pool to settle');
    const after = (await localHealth(server.url)).runtimes.reduce((sum, runtime) => sum + runtime.invocations, 0);
    expect(after - started).toBe(completed.length);
  });
});
