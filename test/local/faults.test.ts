/**
 * Faults of an execution environment under the local server: a runtime
 * killed mid-execution, a runtime frozen past the function timeout, a full
 * queue. Only the request directly hit fails, with a clean JSON error; the
 * pool recovers by itself.
 */
import { localHealth, postExecute, startServer, waitUntil, type RunningServer } from './server-process';

let server: RunningServer;

beforeAll(async () => {
  // A short function timeout keeps the frozen-runtime case quick; it must stay 2 s above the longest script timeout,
  // which the queue case's 9000 ms sets.
  server = await startServer({
    // QUEUE_WAIT_MS: the queued request waits for a 5 s script, however slow the machine.
    env: { SANDBOX_CONCURRENCY: '2', QUEUE_LIMIT: '1', QUEUE_WAIT_MS: '60000', EXECUTOR_MAX_TIMEOUT_MS: '9000', EXECUTOR_DEFAULT_TIMEOUT_MS: '3000', FUNCTION_TIMEOUT_S: '11' },
  });
});

afterAll(async () => {
  await server?.stop();
});

/** Starts a sleeping script and resolves with the pid of the runtime that runs it. */
async function busyRuntime(): Promise<{ pid: number; slot: number; restarts: number; response: ReturnType<typeof postExecute> }> {
  const before = await localHealth(server.url);
  const response = postExecute(server.url, { script: 'import time\nprint("started", flush=True)\ntime.sleep(2.5)\nprint("done")', timeoutMs: 3000 });
  let busy: { pid: number | null; slot: number; restarts: number } | undefined;
  await waitUntil(async () => {
    const health = await localHealth(server.url);
    busy = health.runtimes.find(
      (runtime) =>
        runtime.state === 'busy' && runtime.pid !== null && runtime.invocations > (before.runtimes.find((earlier) => earlier.slot === runtime.slot)?.invocations ?? 0),
    );
    return busy !== undefined;
  }, 'a runtime to take the sleeping script');
  return { pid: busy!.pid!, slot: busy!.slot, restarts: busy!.restarts, response };
}

async function expectHealthyAgain(): Promise<void> {
  await waitUntil(async () => (await localHealth(server.url)).runtimes.every((runtime) => runtime.state === 'idle'), 'both runtimes to be idle again');
  for (let index = 0; index < 4; index += 1) {
    const { status, body } = await postExecute(server.url, { script: `def main(n):\n    return n * n`, input: index });
    expect([status, body.result]).toEqual([200, index * index]);
  }
}

describe('runtime faults under the local server', () => {
  it('answers a request whose runtime is SIGKILLed with a clean 504, restarts the runtime and serves the next requests', async () => {
    const { pid, slot, restarts, response } = await busyRuntime();
    process.kill(pid, 'SIGKILL');
    const { status, body } = await response;
    expect(status).toBe(504);
    expect(body).toMatchObject({ ok: false, errorType: 'ExecutorTimeout' });
    expect(body.error).toMatch(/exited before it answered/);
    await expectHealthyAgain();
    const after = (await localHealth(server.url)).runtimes.find((runtime) => runtime.slot === slot)!;
    expect(after.restarts).toBe(restarts + 1);
    expect(after.pid).not.toBe(pid);
  });

  it('kills a runtime frozen past the function timeout (SIGSTOP), answers 504 and recovers', async () => {
    const { pid, response } = await busyRuntime();
    process.kill(pid, 'SIGSTOP');
    const { status, body } = await response;
    expect(status).toBe(504);
    expect(body).toMatchObject({ ok: false, errorType: 'ExecutorTimeout' });
    expect(body.error).toMatch(/ran past its Lambda timeout/);
    await expectHealthyAgain();
  });

  it('refuses work beyond the runtimes and QUEUE_LIMIT with a clean JSON error while the rest complete', async () => {
    // Long enough that both runtimes are busy at once even when the second
    // one (created on demand for this tenant) takes seconds to start.
    const script = { script: 'import time\ntime.sleep(5)\nprint("ok")', timeoutMs: 9000 };
    const started = [postExecute(server.url, script), postExecute(server.url, script)];
    // 'busy' exactly: a runtime still recycling after an earlier request ('finishing') frees up within milliseconds.
    await waitUntil(async () => (await localHealth(server.url)).runtimes.filter((runtime) => runtime.state === 'busy').length === 2, 'both runtimes to run a script');
    const queued = postExecute(server.url, script);
    await waitUntil(async () => (await localHealth(server.url)).queued === 1, 'the third request to be queued');
    const refused = await postExecute(server.url, script);
    expect([429, 503]).toContain(refused.status);
    expect(['Throttled', 'ServiceUnavailable']).toContain(refused.body.errorType);
    expect(refused.body.ok).toBe(false);
    const completed = await Promise.all([...started, queued]);
    expect(completed.map((result) => result.status)).toEqual([200, 200, 200]);
    expect(completed.map((result) => result.body.stdout)).toEqual(['ok\n', 'ok\n', 'ok\n']);
  });
});
