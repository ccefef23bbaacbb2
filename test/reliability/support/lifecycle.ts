/**
 * A server under test from start to a verified-clean stop: which processes it
 * ran (sampled all along, so restarted runtimes are counted too), which temp
 * folders it made, and after SIGTERM whether anything of either is left.
 */
import { existsSync } from 'node:fs';
import { send, type Reply } from './http';
import { ProcessWatch, type Proc } from './proc';
import { startServer, type ExitInfo, type ServerSettings, type StartedServer } from './server';
import { executorStateDirs, serverTempDir, tmpListing } from './tmp';

export interface RuntimeHealth {
  readonly slot: number;
  readonly state: string;
  readonly pid: number | null;
  readonly restarts: number;
  readonly invocations: number;
}

export interface Tracked {
  readonly server: StartedServer;
  readonly watch: ProcessWatch;
  /** The server's own temp root (artifacts, runtime TMPDIRs). */
  readonly tempDir: string | undefined;
  /** Stops the periodic process sampling. */
  readonly stopSampling: () => void;
}

export interface ShutdownReport {
  readonly exit: ExitInfo;
  readonly leftoverProcesses: Proc[];
  readonly leftoverDirs: string[];
  readonly runtimePidsSeen: number;
}

const PROBE_ARTIFACT_SCRIPT = 'import os\nos.makedirs("outputs", exist_ok=True)\nopen("outputs/probe.txt", "w").write("probe")\n';

export async function launch(settings: ServerSettings = {}): Promise<Tracked> {
  const before = tmpListing();
  const server = await startServer(settings);
  const uids = Array.from({ length: server.size }, (_, index) => server.uidBase + index);
  const watch = new ProcessWatch(server.pid, uids);
  watch.sample();
  // Sampled often enough to see a runtime that is replaced between two test steps.
  const timer = setInterval(() => watch.sample(), 250);
  timer.unref();
  const probe = await send(server.url, {
    path: '/execute',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ script: PROBE_ARTIFACT_SCRIPT }),
  });
  const requestId = (probe.json as { requestId?: string } | undefined)?.requestId;
  const tempDir = requestId !== undefined ? serverTempDir(before, requestId) : undefined;
  return { server, watch, tempDir, stopSampling: () => clearInterval(timer) };
}

export async function healthz(server: StartedServer, limitMs = 60_000): Promise<Reply> {
  return send(server.url, { method: 'GET', path: '/healthz', limitMs });
}

export function runtimesOf(reply: Reply): RuntimeHealth[] {
  const body = reply.json as { local?: { runtimes?: RuntimeHealth[] } } | undefined;
  return body?.local?.runtimes ?? [];
}

/**
 * Polls /healthz until it answers 200 and every runtime is alive and waiting
 * for work, i.e. the pool has recovered by itself. Bounded by limitMs.
 */
export async function waitAllReady(server: StartedServer, limitMs = 90_000): Promise<RuntimeHealth[]> {
  const deadline = Date.now() + limitMs;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    try {
      const reply = await healthz(server, 30_000);
      const runtimes = runtimesOf(reply);
      // The health check itself is an invocation: the runtime that answered it
      // is still recycling its worker ('finishing') when the answer is built.
      const finishing = runtimes.filter((runtime) => runtime.state === 'finishing').length;
      const settled = runtimes.every((runtime) => (runtime.state === 'idle' || runtime.state === 'finishing') && runtime.pid !== null);
      if (reply.status === 200 && runtimes.length === server.size && settled && finishing <= 1) {
        return runtimes;
      }
      last = `status ${reply.status}, runtimes ${JSON.stringify(runtimes.map((runtime) => runtime.state))}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`The pool did not recover within ${limitMs} ms: every runtime should be idle and /healthz 200; last seen ${last}.`);
}

/** SIGTERM, wait for the exit, then look for any process or temp folder of this server. */
export async function shutdownAndInspect(tracked: Tracked): Promise<ShutdownReport> {
  tracked.watch.sample();
  tracked.stopSampling();
  const exit = await tracked.server.stop();
  // Runtimes are direct children of the server; their state folders are named after them.
  const runtimePids = new Set<number>();
  for (const proc of tracked.watch.seen.values()) if (proc.ppid === tracked.server.pid) runtimePids.add(proc.pid);
  // SIGKILLed processes vanish as soon as they are reaped; allow a moment for that, no more.
  const deadline = Date.now() + 5_000;
  let leftoverProcesses = tracked.watch.leftovers();
  while (leftoverProcesses.length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    leftoverProcesses = tracked.watch.leftovers();
  }
  const leftoverDirs = executorStateDirs(runtimePids);
  if (tracked.tempDir !== undefined && existsSync(tracked.tempDir)) leftoverDirs.push(tracked.tempDir);
  return { exit, leftoverProcesses, leftoverDirs, runtimePidsSeen: runtimePids.size };
}
