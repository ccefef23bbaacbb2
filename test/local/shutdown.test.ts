/**
 * Clean shutdown: Ctrl+C (SIGINT to the terminal's process group) or SIGTERM
 * stops accepting, lets a running execution finish within SHUTDOWN_GRACE_MS
 * or fails it cleanly after, and leaves no process and no temp folder behind.
 */
import { existsSync } from 'node:fs';
import { findFamily, listProcesses } from '../../local/process-tree';
import { localHealth, postExecute, startServer, waitUntil, type LocalHealth, type RunningServer } from './server-process';

/** Live processes (zombies are dead already and only wait for init to reap them) of the server and its runtimes. */
function leftovers(health: LocalHealth, server: RunningServer): string[] {
  const processes = listProcesses().filter((info) => info.state !== 'Z' && info.state !== 'X');
  const pids = new Set<number>();
  const explain = (pid: number): string => {
    const info = processes.find((candidate) => candidate.pid === pid);
    return `${pid} (ppid ${info?.ppid}, uid ${info?.uid}, state ${info?.state})`;
  };
  for (const runtime of health.runtimes) {
    if (runtime.pid === null) continue;
    for (const info of findFamily({ leaderPid: runtime.pid, sandboxUid: runtime.sandboxUid ?? undefined }, processes)) {
      pids.add(info.pid);
    }
  }
  for (const info of processes) {
    if (info.pgid === server.child.pid || info.pid === server.child.pid) pids.add(info.pid);
  }
  return [...pids].map(explain);
}

async function waitForBusy(server: RunningServer): Promise<void> {
  await waitUntil(async () => (await localHealth(server.url)).runtimes.some((runtime) => runtime.state === 'busy'), 'the script to start');
}

describe('shutdown of the local server', () => {
  it('on Ctrl+C (npx tsx local/main.ts, SIGINT to the group) finishes the running execution, then leaves nothing behind', async () => {
    const server = await startServer({ via: 'npx' });
    const health = await localHealth(server.url);
    expect(existsSync(health.tempDirectory)).toBe(true);
    const running = postExecute(server.url, { script: 'import time\ntime.sleep(1.5)\nprint("finished")' });
    await waitForBusy(server);
    await server.stop('SIGINT');
    const { status, body } = await running;
    expect(status).toBe(200);
    expect(body.stdout).toBe('finished\n');
    expect(server.output()).toContain('Stopped: every runtime and worker is gone and the temporary files are removed.');
    expect(leftovers(health, server)).toEqual([]);
    expect(existsSync(health.tempDirectory)).toBe(false);
  });

  it('on SIGTERM fails an execution that outlasts SHUTDOWN_GRACE_MS with a clean JSON error and exits 0', async () => {
    const server = await startServer({ env: { SHUTDOWN_GRACE_MS: '300' } });
    const health = await localHealth(server.url);
    const running = postExecute(server.url, { script: 'import time\ntime.sleep(20)', timeoutMs: 25000 });
    await waitForBusy(server);
    const exitCode = server.stop('SIGTERM');
    const { status, body } = await running;
    expect(status).toBe(504);
    expect(body).toMatchObject({ ok: false, errorType: 'ExecutorTimeout' });
    expect(await exitCode).toBe(0);
    expect(leftovers(health, server)).toEqual([]);
    expect(existsSync(health.tempDirectory)).toBe(false);
  });
});
