/**
 * Two local servers on one machine (a second `npm start`, or `npm test` next
 * to a running server): as root each runtime's workers run as a sandbox uid,
 * and stopping a runtime kills every process of its uid. Servers that start
 * from the same SANDBOX_UID_BASE must still get disjoint uids (leased for
 * their life), so one starting and stopping never touches the other's work.
 */
import { localHealth, postExecute, startServer, waitUntil, type RunningServer } from './server-process';

const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const SHARED_BASE = String(120000 + Math.floor(Math.random() * 800) * 100);
const servers: RunningServer[] = [];

async function start(): Promise<RunningServer> {
  const server = await startServer({ env: { SANDBOX_UID_BASE: SHARED_BASE, SANDBOX_CONCURRENCY: '1', TENANCY: 'shared' } });
  servers.push(server);
  return server;
}

afterAll(async () => {
  await Promise.all(servers.map((server) => server.stop()));
});

(asRoot ? describe : describe.skip)('two local servers from the same SANDBOX_UID_BASE', () => {
  it('lease different sandbox uids, and one starting and stopping leaves the other one running its work', async () => {
    const first = await start();
    let settled = false;
    // Long enough to still run while the second server starts and stops, even on a busy machine.
    const longRun = postExecute(first.url, { script: 'import time\ndef main():\n    time.sleep(15)\n    return "survived"', timeoutMs: 20000 }).finally(() => {
      settled = true;
    });
    await waitUntil(async () => (await localHealth(first.url)).busy === 1, "the first server's execution to start");

    const second = await start();
    const firstUids = (await localHealth(first.url)).runtimes.map((runtime) => runtime.sandboxUid);
    const secondUids = (await localHealth(second.url)).runtimes.map((runtime) => runtime.sandboxUid);
    expect(firstUids).toEqual([Number(SHARED_BASE)]);
    expect(secondUids).toHaveLength(1);
    expect(secondUids).not.toContain(firstUids[0]);
    expect((await postExecute(second.url, { script: 'print("second")' })).body.stdout).toBe('second\n');

    expect(await second.stop()).toBe(0);
    // The first execution was still running while the second server stopped its runtime: it must survive that.
    expect(settled).toBe(false);
    const { status, body } = await longRun;
    expect({ status, result: body.result, error: body.error }).toEqual({ status: 200, result: 'survived', error: null });
    expect((await postExecute(first.url, { script: 'print("first")' })).body.stdout).toBe('first\n');
  });
});
