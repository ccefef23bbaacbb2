/**
 * `npm run soak`: minutes of mixed traffic (normal executions and hostile
 * ones: memory bombs, fork bombs, output floods, timeouts, script errors,
 * invalid requests, chart artifacts) against the real local server, sampling
 * every SOAK_SAMPLE_SECONDS the resident memory and open file descriptors of
 * the server and of each runtime from /proc. Prints a table and a verdict on
 * flatness (first minute against last minute), then stops the server with
 * SIGTERM and checks that no process or temp folder is left.
 *
 * Not part of CI (it runs for SOAK_SECONDS, default 600). Linux only (/proc).
 *   SOAK_SECONDS=600 SOAK_SAMPLE_SECONDS=10 SOAK_CONCURRENCY=4 SOAK_RUNTIMES=2 npm run soak
 * Exit status 0 when everything stayed flat and every answer was as expected.
 */
import { randomUUID } from 'node:crypto';
import { INVOKE_PATH, keepAliveAgent, send, type Reply } from '../test/reliability/support/http';
import { envInt, labelOf, squareRequest, Tally, uncleanApiError, wrongSquare } from '../test/reliability/support/checks';
import { healthz, launch, runtimesOf, shutdownAndInspect } from '../test/reliability/support/lifecycle';
import { descendants, openFds, rssBytes } from '../test/reliability/support/proc';

const SOAK_SECONDS = envInt('SOAK_SECONDS', 600);
const SAMPLE_SECONDS = envInt('SOAK_SAMPLE_SECONDS', 10);
const CONCURRENCY = envInt('SOAK_CONCURRENCY', 4);
const RUNTIMES = envInt('SOAK_RUNTIMES', 2);
/** Memory may wobble by this much (plus 10 %) between the first and the last minute and still count as flat. */
const RSS_SLACK_BYTES = 16 * 1024 * 1024;
const FD_SLACK = 8;
/** When the idle process count is first taken (after the warm-up minute), and how long it may take to settle. */
const IDLE_BASELINE_AFTER_S = Math.min(60, Math.max(1, Math.floor(SOAK_SECONDS / 3)));
const IDLE_SETTLE_MAX_MS = 10_000;

interface Kind {
  readonly name: string;
  readonly weight: number;
  readonly body: (n: number, tag: string) => string;
  /** Why the reply is not what this kind must get, or undefined. */
  readonly check: (reply: Reply, n: number, tag: string) => string | undefined;
}

function scriptRequest(script: string, timeoutMs?: number): string {
  return JSON.stringify({ script, ...(timeoutMs !== undefined ? { timeoutMs } : {}) });
}

function failsWith(...errorTypes: string[]): (reply: Reply) => string | undefined {
  return (reply) => uncleanApiError(reply, [422], errorTypes);
}

const KINDS: readonly Kind[] = [
  { name: 'normal', weight: 50, body: (n, tag) => squareRequest(n, tag), check: (reply, n, tag) => (reply.status === 200 ? wrongSquare(reply.json, n, tag) : `status ${reply.status}: ${reply.text.slice(0, 200)}`) },
  {
    name: 'memory bomb',
    weight: 6,
    body: () => scriptRequest('blocks = []\nwhile True:\n    blocks.append(bytearray(16 * 1024 * 1024))\n', 5000),
    check: failsWith('MemoryLimit'),
  },
  {
    name: 'fork bomb',
    weight: 4,
    body: () => scriptRequest('import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n', 1500),
    check: failsWith('PolicyViolation', 'Timeout', 'ScriptError', 'MemoryLimit'),
  },
  {
    name: 'output flood',
    weight: 6,
    body: () => scriptRequest('import sys\nfor _ in range(200):\n    sys.stdout.write("x" * 65536)\n    sys.stderr.write("y" * 65536)\n'),
    check: (reply) => {
      const body = reply.json as { ok?: unknown; truncated?: { stdout?: unknown; stderr?: unknown } } | undefined;
      if (reply.status !== 200 || body?.ok !== true) return `status ${reply.status}: ${reply.text.slice(0, 200)}`;
      return body.truncated?.stdout === true && body.truncated.stderr === true ? undefined : 'the flood was not marked truncated';
    },
  },
  { name: 'busy timeout', weight: 5, body: () => scriptRequest('while True:\n    pass\n', 500), check: failsWith('Timeout') },
  { name: 'sleep timeout', weight: 5, body: () => scriptRequest('import time\ntime.sleep(30)\n', 300), check: failsWith('Timeout') },
  { name: 'script error', weight: 6, body: () => scriptRequest('def main():\n    return 1 / 0\n'), check: failsWith('ScriptError') },
  {
    name: 'invalid request',
    weight: 6,
    body: (n) => JSON.stringify({ script: n, extra: true }),
    check: (reply) => uncleanApiError(reply, [400], ['InvalidRequest']),
  },
  {
    name: 'chart artifact',
    weight: 6,
    body: () =>
      scriptRequest('import matplotlib.pyplot as plt\ndef main():\n    plt.plot([1, 3, 2])\n    plt.savefig("outputs/chart.png")\n    plt.close("all")\n    return "drawn"\n'),
    check: (reply) => {
      const body = reply.json as { ok?: unknown; artifacts?: unknown[] } | undefined;
      if (reply.status !== 200 || body?.ok !== true) return `status ${reply.status}: ${reply.text.slice(0, 200)}`;
      return Array.isArray(body.artifacts) && body.artifacts.length === 1 ? undefined : `artifacts ${JSON.stringify(body.artifacts)}`;
    },
  },
  { name: 'normal via Invoke API', weight: 6, body: (n, tag) => squareRequest(n, tag), check: (reply, n, tag) => (reply.status === 200 && reply.headers['x-amz-function-error'] === undefined ? wrongSquare(reply.json, n, tag) : `status ${reply.status}: ${reply.text.slice(0, 200)}`) },
];
const TOTAL_WEIGHT = KINDS.reduce((sum, kind) => sum + kind.weight, 0);

interface Sample {
  readonly atS: number;
  readonly requests: number;
  readonly serverRss: number;
  readonly serverFds: number;
  /** Per slot: [rss, fds]. */
  readonly runtimes: Map<number, { rss: number; fds: number; pid: number }>;
  readonly processes: number;
  readonly restarts: number;
}

const mb = (bytes: number): string => (bytes / 1024 / 1024).toFixed(1);

function mean(values: readonly number[]): number {
  return values.length === 0 ? 0 : values.reduce((sum, value) => sum + value, 0) / values.length;
}

async function main(): Promise<number> {
  if (process.platform !== 'linux') {
    process.stderr.write('The soak reads /proc and runs on Linux only.\n');
    return 2;
  }
  process.stdout.write(`soak: ${SOAK_SECONDS} s of mixed traffic, concurrency ${CONCURRENCY}, ${RUNTIMES} runtimes, a sample every ${SAMPLE_SECONDS} s\n`);
  const tracked = await launch({ env: { SANDBOX_CONCURRENCY: String(RUNTIMES), QUEUE_LIMIT: String(CONCURRENCY * 4), ARTIFACT_RETENTION_MS: '60000' } });
  const { server } = tracked;
  const agent = keepAliveAgent(CONCURRENCY);
  const outcomes = new Map<string, Tally>();
  const unexpected: string[] = [];
  let requests = 0;
  let inFlight = 0;
  let running = true;
  // While set, lanes wait before sending: the process count is only
  // meaningful with no execution in flight (a fork bomb alone adds 16).
  let gate: Promise<void> | undefined;
  let n = 0;
  const runTag = randomUUID().slice(0, 8);
  const startedAt = Date.now();

  const lane = async (): Promise<void> => {
    while (running) {
      while (gate !== undefined) await gate;
      if (!running) break;
      let roll = Math.random() * TOTAL_WEIGHT;
      const kind = KINDS.find((candidate) => (roll -= candidate.weight) <= 0) ?? KINDS[0]!;
      n += 1;
      const current = n;
      const tag = `${runTag}-${current}`;
      inFlight += 1;
      try {
        const reply = await send(server.url, {
          path: kind.name.endsWith('Invoke API') ? INVOKE_PATH : '/execute',
          headers: { 'Content-Type': 'application/json' },
          body: kind.body(current, tag),
          agent,
          limitMs: 120_000,
        });
        const tally = outcomes.get(kind.name) ?? new Tally();
        tally.add(labelOf(reply));
        outcomes.set(kind.name, tally);
        const problem = kind.check(reply, current, tag);
        if (problem !== undefined) unexpected.push(`${kind.name} #${current}: ${problem}`);
      } catch (error) {
        unexpected.push(`${kind.name} #${current}: ${(error as Error).message}`);
      }
      inFlight -= 1;
      requests += 1;
    }
  };

  const samples: Sample[] = [];
  const takeSample = async (): Promise<Sample> => {
    const runtimes = new Map<number, { rss: number; fds: number; pid: number }>();
    let restarts = 0;
    try {
      for (const runtime of runtimesOf(await healthz(server))) {
        restarts += runtime.restarts;
        if (runtime.pid !== null) runtimes.set(runtime.slot, { pid: runtime.pid, rss: rssBytes(runtime.pid) ?? 0, fds: openFds(runtime.pid) ?? 0 });
      }
    } catch (error) {
      unexpected.push(`/healthz during the soak: ${(error as Error).message}`);
    }
    return {
      atS: Math.round((Date.now() - startedAt) / 1000),
      requests,
      serverRss: rssBytes(server.pid) ?? 0,
      serverFds: openFds(server.pid) ?? 0,
      runtimes,
      processes: descendants(server.pid).length,
      restarts,
    };
  };
  const header = ['t(s)', 'requests', 'server MiB', 'server fds', ...Array.from({ length: RUNTIMES }, (_, index) => `rt${index + 1} MiB/fds`), 'procs', 'restarts'];
  process.stdout.write(`${header.join('\t')}\n`);
  const print = (sample: Sample): void => {
    const cells = [
      String(sample.atS),
      String(sample.requests),
      mb(sample.serverRss),
      String(sample.serverFds),
      ...Array.from({ length: RUNTIMES }, (_, index) => {
        const runtime = sample.runtimes.get(index + 1);
        return runtime === undefined ? '-' : `${mb(runtime.rss)}/${runtime.fds}`;
      }),
      String(sample.processes),
      String(sample.restarts),
    ];
    process.stdout.write(`${cells.join('\t')}\n`);
  };

  /**
   * The server's descendants once traffic is paused and every runtime has
   * recycled: runtimes, their templates and parked workers, nothing else. A
   * leak raises this floor; executions in flight do not.
   */
  const idleProcessCount = async (): Promise<number> => {
    let release: () => void = () => undefined;
    gate = new Promise((resolve) => { release = resolve; });
    try {
      while (inFlight > 0) await new Promise((resolve) => setTimeout(resolve, 50));
      const settleBy = Date.now() + IDLE_SETTLE_MAX_MS;
      let previous = -1;
      let steady = 0;
      while (Date.now() < settleBy && steady < 3) {
        await new Promise((resolve) => setTimeout(resolve, 300));
        const count = descendants(server.pid).length;
        steady = count === previous ? steady + 1 : 0;
        previous = count;
      }
      return previous;
    } finally {
      gate = undefined;
      release();
    }
  };

  const lanes = Array.from({ length: CONCURRENCY }, () => lane());
  let idleAtStart: number | undefined;
  const endAt = startedAt + SOAK_SECONDS * 1000;
  while (Date.now() < endAt) {
    await new Promise((resolve) => setTimeout(resolve, Math.min(SAMPLE_SECONDS * 1000, Math.max(0, endAt - Date.now()))));
    const sample = await takeSample();
    samples.push(sample);
    print(sample);
    if (idleAtStart === undefined && Date.now() - startedAt >= IDLE_BASELINE_AFTER_S * 1000 && Date.now() < endAt) {
      idleAtStart = await idleProcessCount();
      process.stdout.write(`idle process count after ${IDLE_BASELINE_AFTER_S} s: ${idleAtStart}\n`);
    }
  }
  running = false;
  await Promise.all(lanes);
  agent.destroy();
  const elapsedS = (Date.now() - startedAt) / 1000;

  // First and last minute (or the first and last third of a shorter run).
  const windowS = Math.min(60, Math.max(SAMPLE_SECONDS, SOAK_SECONDS / 3));
  const first = samples.filter((sample) => sample.atS <= windowS);
  const last = samples.filter((sample) => sample.atS >= elapsedS - windowS);
  const verdicts: string[] = [];
  let flat = true;
  const compare = (label: string, pick: (sample: Sample) => number | undefined, slack: number, unit: (value: number) => string, relative: number): void => {
    const a = mean(first.map(pick).filter((value): value is number => value !== undefined));
    const b = mean(last.map(pick).filter((value): value is number => value !== undefined));
    const ok = b <= a * (1 + relative) + slack;
    flat &&= ok;
    verdicts.push(`${label}: first ${unit(a)} -> last ${unit(b)} (${b >= a ? '+' : ''}${unit(b - a)}) ${ok ? 'flat' : 'GROWING'}`);
  };
  compare('server RSS MiB', (sample) => sample.serverRss, RSS_SLACK_BYTES, mb, 0.1);
  compare('server fds', (sample) => sample.serverFds, FD_SLACK, (value) => value.toFixed(1), 0);
  for (let slot = 1; slot <= RUNTIMES; slot += 1) {
    compare(`runtime ${slot} RSS MiB`, (sample) => sample.runtimes.get(slot)?.rss, RSS_SLACK_BYTES, mb, 0.1);
    compare(`runtime ${slot} fds`, (sample) => sample.runtimes.get(slot)?.fds, FD_SLACK, (value) => value.toFixed(1), 0);
  }
  const idleAtEnd = await idleProcessCount();
  if (idleAtStart !== undefined) {
    const ok = idleAtEnd <= idleAtStart;
    flat &&= ok;
    verdicts.push(`server processes when idle: after ${IDLE_BASELINE_AFTER_S} s ${idleAtStart} -> at the end ${idleAtEnd} ${ok ? 'flat' : 'GROWING'}`);
  }

  const report = await shutdownAndInspect(tracked);
  process.stdout.write(`\n${requests} requests in ${elapsedS.toFixed(0)} s (${(requests / elapsedS).toFixed(1)} req/s)\n`);
  for (const [name, tally] of outcomes) process.stdout.write(`  ${name}: ${tally.toString()}\n`);
  process.stdout.write(`unexpected answers: ${unexpected.length}\n`);
  for (const line of unexpected.slice(0, 20)) process.stdout.write(`  ${line}\n`);
  process.stdout.write(`runtime restarts: ${samples.at(-1)?.restarts ?? 0}\n`);
  process.stdout.write(`flatness (first vs last ${windowS} s):\n${verdicts.map((line) => `  ${line}`).join('\n')}\n`);
  process.stdout.write(
    `shutdown: exit ${JSON.stringify(report.exit)}, leftover processes ${report.leftoverProcesses.length}, leftover temp folders ${report.leftoverDirs.length}` +
      `${report.leftoverDirs.length > 0 ? ` (${report.leftoverDirs.join(', ')})` : ''}\n`,
  );
  const clean = report.exit.code === 0 && report.leftoverProcesses.length === 0 && report.leftoverDirs.length === 0;
  process.stdout.write(`VERDICT: ${flat ? 'memory and file descriptors stayed flat' : 'something GREW'}; ${unexpected.length === 0 ? 'every answer as expected' : 'some answers were UNEXPECTED'}; ${clean ? 'clean shutdown' : 'shutdown left something behind'}\n`);
  return flat && unexpected.length === 0 && clean ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: Error) => {
    process.stderr.write(`The soak could not run: ${error.stack ?? error.message}\n`);
    process.exit(2);
  },
);
