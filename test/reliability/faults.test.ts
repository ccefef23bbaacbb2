/**
 * Faults during load. While numbered background executions run, one
 * "victim" execution is hit: its runtime SIGKILLed, its worker SIGKILLed, or
 * its runtime SIGSTOPped past the function timeout; then the queue is
 * overfilled. Only the victim (or the requests beyond capacity) may fail, each
 * with a clean JSON error of the designed status; every background request
 * must get its right answer; the pool must recover by itself; and after
 * SIGTERM no process and no temp folder of the server may be left.
 *
 * The server runs with a short function timeout (FUNCTION_TIMEOUT_S=5) so a
 * stopped runtime is given up on quickly; request timeouts stay below it.
 */
import { randomUUID } from 'node:crypto';
import { INVOKE_PATH, keepAliveAgent, send, type Reply } from './support/http';
import { startBackground } from './support/background';
import { envInt, labelOf, Tally, uncleanApiError, uncleanInvokeError, wrongSquare, squareRequest } from './support/checks';
import { healthz, launch, runtimesOf, shutdownAndInspect, waitAllReady, type Tracked } from './support/lifecycle';
import { processTable, readProc, type Proc } from './support/proc';

const RUNTIMES = 2;
const QUEUE_LIMIT = 4;
const FUNCTION_TIMEOUT_S = 5;
const MAX_TIMEOUT_MS = 3000;
const BACKGROUND_CONCURRENCY = envInt('FAULT_BACKGROUND_CONCURRENCY', 3);
/** Clock ticks of CPU (USER_HZ is 100 on Linux) that only the busy-looping victim reaches; quick scripts use a few. */
const VICTIM_CPU_TICKS = 30;

/** Busy for 2.5 s so that it can be told apart from every other process by the CPU time it burns. */
const VICTIM_SCRIPT = 'import time\nstarted = time.time()\nwhile time.time() - started < 2.5:\n    pass\nprint("survived")\n';

jest.setTimeout(10 * 60_000);

let tracked: Tracked;
const recoveries: string[] = [];

beforeAll(async () => {
  tracked = await launch({
    env: {
      SANDBOX_CONCURRENCY: String(RUNTIMES),
      QUEUE_LIMIT: String(QUEUE_LIMIT),
      FUNCTION_TIMEOUT_S: String(FUNCTION_TIMEOUT_S),
      EXECUTOR_MAX_TIMEOUT_MS: String(MAX_TIMEOUT_MS),
      EXECUTOR_DEFAULT_TIMEOUT_MS: String(MAX_TIMEOUT_MS),
      SHUTDOWN_GRACE_MS: '5000',
    },
  });
  await waitAllReady(tracked.server);
});

afterAll(async () => {
  tracked.stopSampling();
  await tracked.server.stop();
  if (recoveries.length > 0) process.stdout.write(`faults: ${recoveries.join('; ')}\n`);
});

interface Victim {
  /** The process running the script. */
  readonly script: Proc;
  /**
   * The worker: the process the runtime's worker template forked for this
   * execution (runtime -> template -> worker), which runs the script.
   */
  readonly worker: Proc;
  /** The executor runtime (a direct child of the server). */
  readonly runtime: Proc;
}

/** Finds the busy-looping victim among the server's sandbox processes, and the worker and runtime above it. */
async function findVictim(limitMs = 10_000): Promise<Victim> {
  const { server } = tracked;
  const uids = new Set(Array.from({ length: server.size }, (_, index) => server.uidBase + index));
  const deadline = Date.now() + limitMs;
  while (Date.now() < deadline) {
    const table = processTable();
    const byPid = new Map(table.map((proc) => [proc.pid, proc]));
    const candidates = table.filter((proc) => uids.has(proc.uid) && proc.cpuTicks >= VICTIM_CPU_TICKS && proc.state !== 'Z');
    for (const script of candidates) {
      const chain: Proc[] = [script];
      let current: Proc | undefined = script;
      while (current !== undefined && current.ppid !== server.pid && current.ppid > 1) {
        current = byPid.get(current.ppid);
        if (current !== undefined) chain.push(current);
      }
      // chain is [script, ..., worker, template, runtime]: killing the template instead would make
      // the runtime start over, which is the template's own test (runtime-image/tests/test_seal.py).
      if (current !== undefined && current.ppid === server.pid && chain.length >= 3) {
        return { script, runtime: current, worker: chain[chain.length - 3]! };
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`No sandbox process of this server burned ${VICTIM_CPU_TICKS} ticks of CPU within ${limitMs} ms; the victim never ran.`);
}

function sendVictim(): Promise<Reply> {
  return send(tracked.server.url, {
    path: '/execute',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ script: VICTIM_SCRIPT, timeoutMs: MAX_TIMEOUT_MS }),
    limitMs: 60_000,
  });
}

async function slotOfPid(pid: number): Promise<{ slot: number; restarts: number }> {
  const runtimes = runtimesOf(await healthz(tracked.server));
  const runtime = runtimes.find((candidate) => candidate.pid === pid);
  if (runtime === undefined) throw new Error(`No runtime with pid ${pid} in /healthz: ${JSON.stringify(runtimes)}`);
  return { slot: runtime.slot, restarts: runtime.restarts };
}

/** After a fault: the pool is whole again and a fresh execution is answered correctly. */
async function expectRecovered(what: string): Promise<void> {
  const started = Date.now();
  await waitAllReady(tracked.server);
  const reply = await send(tracked.server.url, {
    path: '/execute',
    headers: { 'Content-Type': 'application/json' },
    body: squareRequest(7, `after-${what}`),
  });
  expect(wrongSquare(reply.json, 7, `after-${what}`)).toBeUndefined();
  recoveries.push(`${what}: recovered in ${Date.now() - started} ms`);
}

describe('faults during load', () => {
  it('fails only the execution whose runtime is SIGKILLed, with a 504 ExecutorTimeout, and restarts the runtime', async () => {
    const background = startBackground(tracked.server.url, BACKGROUND_CONCURRENCY, `kill-runtime-${randomUUID().slice(0, 6)}`);
    await background.answered(5);
    const victimReply = sendVictim();
    const victim = await findVictim();
    // Lambda's own health view is taken before the kill, while the slot still has its pid.
    const before = await slotOfPid(victim.runtime.pid);
    process.kill(victim.runtime.pid, 'SIGKILL');
    const reply = await victimReply;
    await background.answered(5 + 10);
    const summary = await background.stop();

    expect(uncleanApiError(reply, [504], ['ExecutorTimeout'])).toBeUndefined();
    expect(summary.failures).toEqual([]);
    await expectRecovered('runtime SIGKILL');
    const after = runtimesOf(await healthz(tracked.server)).find((runtime) => runtime.slot === before.slot)!;
    expect(after.pid).not.toBe(victim.runtime.pid);
    expect(after.restarts).toBe(before.restarts + 1);
  });

  it('fails only the execution whose worker is SIGKILLed, with a clean error, and keeps the runtime', async () => {
    const background = startBackground(tracked.server.url, BACKGROUND_CONCURRENCY, `kill-worker-${randomUUID().slice(0, 6)}`, 2_000_000);
    await background.answered(5);
    const victimReply = sendVictim();
    const victim = await findVictim();
    const before = await slotOfPid(victim.runtime.pid);
    process.kill(victim.worker.pid, 'SIGKILL');
    const reply = await victimReply;
    await background.answered(5 + 10);
    const summary = await background.stop();

    // The executor cannot tell an outside SIGKILL from the kernel's OOM killer: it reports the script's process as killed.
    expect(uncleanApiError(reply, [422, 500], ['ScriptError', 'InternalError'])).toBeUndefined();
    expect(String((reply.json as { error?: string }).error)).toMatch(/SIGKILL|killed|ended/);
    expect(summary.failures).toEqual([]);
    await expectRecovered('worker SIGKILL');
    // Only the worker died: the runtime is the same process, never restarted.
    expect(readProc(victim.runtime.pid)?.startTicks).toBe(victim.runtime.startTicks);
    const after = runtimesOf(await healthz(tracked.server)).find((runtime) => runtime.slot === before.slot)!;
    expect(after.pid).toBe(victim.runtime.pid);
    expect(after.restarts).toBe(before.restarts);
  });

  it(`answers the execution of a runtime SIGSTOPped past the ${FUNCTION_TIMEOUT_S} s function timeout with a 504 ExecutorTimeout and replaces it`, async () => {
    const background = startBackground(tracked.server.url, BACKGROUND_CONCURRENCY, `stop-runtime-${randomUUID().slice(0, 6)}`, 3_000_000);
    await background.answered(5);
    const victimReply = sendVictim();
    const victim = await findVictim();
    const before = await slotOfPid(victim.runtime.pid);
    process.kill(victim.runtime.pid, 'SIGSTOP');
    let reply: Reply;
    try {
      reply = await victimReply;
    } finally {
      // Never leave a stopped process behind, whatever the server did.
      if (readProc(victim.runtime.pid)?.startTicks === victim.runtime.startTicks) process.kill(victim.runtime.pid, 'SIGCONT');
    }
    await background.answered(5 + 10);
    const summary = await background.stop();

    expect(uncleanApiError(reply, [504], ['ExecutorTimeout'])).toBeUndefined();
    expect(summary.failures).toEqual([]);
    await expectRecovered('runtime SIGSTOP');
    const after = runtimesOf(await healthz(tracked.server)).find((runtime) => runtime.slot === before.slot)!;
    expect(after.pid).not.toBe(victim.runtime.pid);
    expect(after.restarts).toBe(before.restarts + 1);
  });

  it.each([
    ['the HTTP API', '/execute'],
    ['the Invoke API', INVOKE_PATH],
  ])('turns away a burst beyond runtimes + QUEUE_LIMIT on %s with clean 429s and runs the rest', async (_name, path) => {
    const burst = RUNTIMES + QUEUE_LIMIT + 6;
    const agent = keepAliveAgent(burst);
    const sleepScript = 'import time\ndef main(x):\n    time.sleep(1.5)\n    print(x["n"])\n    return {"n": x["n"], "sq": x["n"] * x["n"], "tag": x["tag"]}\n';
    const tag = `burst-${randomUUID().slice(0, 6)}`;
    const outcomes = new Tally();
    const problems: string[] = [];
    await Promise.all(
      Array.from({ length: burst }, async (_, index) => {
        const n = index + 1;
        const reply = await send(tracked.server.url, {
          path,
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ script: sleepScript, input: { n, tag: `${tag}-${n}` }, timeoutMs: MAX_TIMEOUT_MS }),
          agent,
          limitMs: 60_000,
        });
        outcomes.add(labelOf(reply));
        if (reply.status === 200) {
          const problem = wrongSquare(reply.json, n, `${tag}-${n}`);
          if (problem !== undefined) problems.push(`n=${n}: ${problem}`);
          return;
        }
        const problem =
          path === '/execute'
            ? uncleanApiError(reply, [429], ['Throttled'])
            : uncleanInvokeError(reply, [429], ['TooManyRequestsException']);
        if (problem !== undefined) problems.push(`n=${n}: ${problem}`);
        if (reply.headers['retry-after'] === undefined) problems.push(`n=${n}: a 429 without Retry-After`);
      }),
    );
    agent.destroy();
    recoveries.push(`queue burst on ${path}: ${outcomes.toString()}`);
    expect(problems).toEqual([]);
    const throttled = burst - outcomes.get('200');
    // Everything beyond the runtimes and the queue is turned away; a runtime still recycling its last worker may turn away a little more.
    expect(throttled).toBeGreaterThanOrEqual(burst - RUNTIMES - QUEUE_LIMIT);
    expect(outcomes.get('200')).toBeGreaterThanOrEqual(QUEUE_LIMIT);
    await expectRecovered(`queue burst on ${path}`);
  });

  it('leaves no process and no temp folder behind after SIGTERM', async () => {
    const report = await shutdownAndInspect(tracked);
    recoveries.push(`shutdown: exit ${JSON.stringify(report.exit)}, runtime pids seen ${report.runtimePidsSeen}`);
    expect(report.exit).toEqual({ code: 0, signal: null });
    expect(report.leftoverProcesses).toEqual([]);
    expect(report.leftoverDirs).toEqual([]);
  });
});
