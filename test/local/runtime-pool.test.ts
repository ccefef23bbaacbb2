/**
 * The Runtime API emulator and the pool, driven by a minimal standard-library
 * runtime (fixtures/fake_runtime.py) so protocol edge cases the executor never
 * produces on purpose (wrong ids, init errors, oversized responses) are covered.
 */
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sandboxPython } from './server-process';
import { findFamily, listProcesses } from '../../local/process-tree';
import type { Tenancy } from '../../contract';
import { QueueFullError, RuntimePool, TenantIdError } from '../../local/runtime-pool';
import type { InvocationOutcome } from '../../local/runtime-emulator';

const FAKE_RUNTIME = join(__dirname, 'fixtures', 'fake_runtime.py');
const python = sandboxPython();

interface PoolSetup {
  readonly pool: RuntimePool;
  readonly logs: string[];
  readonly tempRoot: string;
}

const pools: PoolSetup[] = [];

function makePool(
  options: { size?: number; queueLimit?: number; queueWaitMs?: number; functionTimeoutMs?: number; initEnv?: Record<string, string>; tenancy?: Tenancy } = {},
): PoolSetup {
  const tempRoot = mkdtempSync(join(tmpdir(), 'runtime-pool-test-'));
  const logs: string[] = [];
  const pool = new RuntimePool({
    size: options.size ?? 1,
    queueLimit: options.queueLimit ?? 4,
    queueWaitMs: options.queueWaitMs ?? 60000,
    functionArn: 'arn:aws:lambda:us-east-1:000000000000:function:test-fn',
    tenancy: options.tenancy ?? 'shared',
    logLine: (line) => logs.push(line),
    environmentOptions: (slot, tenantId) => ({
      slot,
      command: python,
      args: [FAKE_RUNTIME],
      cwd: tempRoot,
      env: { PATH: '/usr/bin:/bin', LANG: 'C.UTF-8', ...(options.initEnv ?? {}) },
      tmpDir: join(tempRoot, `runtime-${slot}`),
      functionTimeoutMs: options.functionTimeoutMs ?? 20000,
      initTimeoutMs: 20000,
      tenantId,
      logLine: (line) => logs.push(line),
    }),
  });
  const setup = { pool, logs, tempRoot };
  pools.push(setup);
  return setup;
}

function json(outcome: InvocationOutcome): Record<string, unknown> {
  return JSON.parse(outcome.payload.toString('utf8')) as Record<string, unknown>;
}

async function invoke(pool: RuntimePool, event: unknown, tenantId?: string): Promise<InvocationOutcome> {
  return pool.invoke({ payload: Buffer.from(JSON.stringify(event)), tenantId });
}

function isAlive(pid: number): boolean {
  return listProcesses().some((info) => info.pid === pid && info.state !== 'Z' && info.state !== 'X');
}

async function waitFor(predicate: () => boolean, what: string, limitMs = 30000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`Gave up waiting for ${what}.`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

afterEach(async () => {
  for (const setup of pools.splice(0)) {
    await setup.pool.stop('test finished');
    rmSync(setup.tempRoot, { recursive: true, force: true });
  }
});

describe('Lambda Runtime API emulator', () => {
  it('delivers the event with the Lambda headers and returns the runtime response', async () => {
    const { pool } = makePool();
    await pool.start();
    const before = Date.now();
    const outcome = await invoke(pool, { hello: 'world' });
    expect(outcome.kind).toBe('response');
    const body = json(outcome);
    expect(body.echo).toEqual({ hello: 'world' });
    expect(body.functionArn).toBe('arn:aws:lambda:us-east-1:000000000000:function:test-fn');
    expect(body.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(body.traceId).toMatch(/^Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0$/);
    expect(body.deadlineMs as number).toBeGreaterThanOrEqual(before + 20000);
  });

  it('gives the runtime only the environment it was configured with, plus the Runtime API address and a private TMPDIR', async () => {
    const { pool, tempRoot } = makePool();
    await pool.start();
    const body = json(await invoke(pool, {}));
    expect(body.env).toEqual(['AWS_LAMBDA_RUNTIME_API', 'HOME', 'LANG', 'PATH', 'TMPDIR']);
    expect(body.tmpdir).toBe(join(tempRoot, 'runtime-1'));
  });

  it('answers protocol mistakes like Lambda: 400 InvalidRequestID, 403 InvalidStateTransition, 404 unknown route', async () => {
    const { pool, logs } = makePool();
    await pool.start();
    const body = json(await invoke(pool, { fake: 'probe-protocol' }));
    expect(body.wrongId).toEqual([400, { errorType: 'InvalidRequestID', errorMessage: 'Invalid request ID' }]);
    expect((body.initErrorAfterInit as [number, { errorType: string }])[0]).toBe(403);
    expect((body.unknownRoute as [number, unknown])[0]).toBe(404);
    await waitFor(() => logs.some((line) => line.startsWith('PROBE ')), 'the probe log line');
    const probe = JSON.parse(logs.find((line) => line.startsWith('PROBE '))!.slice(6)) as Record<string, [number, unknown]>;
    expect(probe.response).toEqual([202, { status: 'OK' }]);
    expect(probe.secondResponse).toEqual([400, { errorType: 'InvalidRequestID', errorMessage: 'Invalid request ID' }]);
  });

  it('answers a second /next during an invocation with the same event, as the AWS Runtime Interface Emulator does', async () => {
    const { pool } = makePool();
    await pool.start();
    const body = json(await invoke(pool, { fake: 'probe-protocol' }));
    const delivered = body.delivered as { requestId: string; deadlineMs: string };
    expect(body.nextWhileBusy).toEqual({ status: 200, requestId: delivered.requestId, deadlineMs: delivered.deadlineMs, sameBody: true });
  });

  it('gives the next event to whoever parked a /next first, even a caller other than the runtime', async () => {
    const { pool } = makePool();
    await pool.start();
    const first = json(await invoke(pool, { fake: 'park-next' }));
    expect(first.parked).toBe(true);
    const second = json(await invoke(pool, { marker: 'for the runtime' }));
    expect(second).toEqual({ servedBy: 'parked caller', event: { marker: 'for the runtime' } });
  });

  it('reports the init duration on the first invocation of a runtime only, in the REPORT line', async () => {
    const { pool } = makePool({ initEnv: { AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '256' } });
    await pool.start();
    const first = await invoke(pool, {});
    const second = await invoke(pool, {});
    expect(first.logTail).toMatch(/\nREPORT RequestId: [0-9a-f-]{36}\tDuration: [\d.]+ ms\tBilled Duration: \d+ ms\tMemory Size: 256 MB\tInit Duration: [\d.]+ ms\n$/);
    expect(second.logTail).toMatch(/\tMemory Size: 256 MB\n$/);
    expect(second.logTail).not.toContain('Init Duration');
  });

  it('passes a runtime-reported error through as a function error', async () => {
    const { pool } = makePool();
    await pool.start();
    const outcome = await invoke(pool, { fake: 'error' });
    expect(outcome.kind).toBe('functionError');
    expect(outcome.kind === 'functionError' && outcome.errorType).toBe('Fake.Error');
    expect(json(outcome)).toEqual({ errorType: 'Fake.Error', errorMessage: 'boom', stackTrace: [] });
  });

  it('turns a response above 6 MB into Function.ResponseSizeTooLarge', async () => {
    const { pool } = makePool();
    await pool.start();
    const outcome = await invoke(pool, { fake: 'huge' });
    expect(outcome.kind).toBe('functionError');
    expect(json(outcome).errorType).toBe('Function.ResponseSizeTooLarge');
    // The environment keeps serving.
    expect(json(await invoke(pool, { after: true })).echo).toEqual({ after: true });
  });

  it('kills and restarts a runtime that exceeds the function timeout, answering Sandbox.Timedout', async () => {
    const { pool } = makePool({ functionTimeoutMs: 3000 });
    await pool.start();
    const firstPid = json(await invoke(pool, {})).pid as number;
    const outcome = await invoke(pool, { fake: 'sleep', seconds: 600 });
    expect(outcome.kind).toBe('functionError');
    const error = json(outcome);
    expect(error.errorType).toBe('Sandbox.Timedout');
    expect(error.errorMessage).toMatch(/Task timed out after 3\.00 seconds/);
    expect(outcome.logTail).toMatch(/^START RequestId: /);
    const after = json(await invoke(pool, { after: true }));
    expect(after.echo).toEqual({ after: true });
    expect(after.pid).not.toBe(firstPid);
    expect(pool.health().runtimes[0].restarts).toBe(1);
  });

  it('answers Runtime.ExitError when the runtime dies mid-invocation and serves the next one from a new runtime', async () => {
    const { pool } = makePool();
    await pool.start();
    const outcome = await invoke(pool, { fake: 'crash' });
    expect(outcome.kind).toBe('functionError');
    expect(json(outcome).errorType).toBe('Runtime.ExitError');
    expect(String(json(outcome).errorMessage)).toMatch(/Runtime exited with error: exit status 7/);
    expect(json(await invoke(pool, { again: 1 })).echo).toEqual({ again: 1 });
  });

  it('restarts on an init error and answers invocations with the init failure while every runtime fails', async () => {
    const { pool } = makePool({ initEnv: { FAKE_INIT: 'error' } });
    await pool.start();
    await waitFor(() => pool.health().runtimes[0].restarts >= 1, 'the first init failure');
    const outcome = await invoke(pool, {});
    expect(outcome.kind).toBe('functionError');
    const error = json(outcome);
    expect(error.errorType).toBe('Runtime.ExitError');
    expect(String(error.errorMessage)).toMatch(/init error \(Fake\.InitError\): init failed on purpose/);
    expect(pool.health().runtimes[0].lastError).toMatch(/Fake\.InitError/);
  });

  it('queues beyond the idle runtimes in FIFO order and refuses beyond QUEUE_LIMIT', async () => {
    const { pool } = makePool({ size: 1, queueLimit: 2 });
    await pool.start();
    await pool.waitForFirstReady(20000);
    const running = invoke(pool, { fake: 'sleep', seconds: 1.5, order: 0 });
    await waitFor(() => pool.health().busy === 1, 'the first invocation to start');
    const queued = [invoke(pool, { order: 1 }), invoke(pool, { order: 2 })];
    expect(pool.health().queued).toBe(2);
    await expect(invoke(pool, { order: 3 })).rejects.toBeInstanceOf(QueueFullError);
    const results = await Promise.all([running, ...queued]);
    expect(results.map((outcome) => outcome.kind)).toEqual(['response', 'response', 'response']);
    expect(results.slice(1).map((outcome) => (json(outcome).echo as { order: number }).order)).toEqual([1, 2]);
  });

  it('drops an invocation that waited QUEUE_WAIT_MS before it ran, with the throttle error', async () => {
    const { pool } = makePool({ size: 1, queueWaitMs: 300 });
    await pool.start();
    await pool.waitForFirstReady(20000);
    const running = invoke(pool, { fake: 'sleep', seconds: 1.5 });
    await waitFor(() => pool.health().busy === 1, 'the first invocation to start');
    const waiting = invoke(pool, { order: 1 });
    await expect(waiting).rejects.toThrow(
      new QueueFullError(
        'Rate exceeded: no local runtime became free within QUEUE_WAIT_MS (300 ms), so the invocation was dropped before it ran; retry shortly or raise SANDBOX_CONCURRENCY.',
      ),
    );
    expect(pool.health().queued).toBe(0);
    expect((await running).kind).toBe('response');
    await waitFor(() => pool.health().idle === 1, 'the runtime to wait for work again');
    // The runtime took the first invocation only: the dropped one never reached it.
    expect(pool.health().runtimes[0].invocations).toBe(1);
  });

  it('drops a queued invocation whose caller went away', async () => {
    const { pool } = makePool({ size: 1 });
    await pool.start();
    await pool.waitForFirstReady(20000);
    const running = invoke(pool, { fake: 'sleep', seconds: 1 });
    await waitFor(() => pool.health().busy === 1, 'the first invocation to start');
    const controller = new AbortController();
    const cancelled = pool.invoke({ payload: Buffer.from('{}'), signal: controller.signal });
    expect(pool.health().queued).toBe(1);
    controller.abort();
    await expect(cancelled).rejects.toThrow(/went away/);
    expect(pool.health().queued).toBe(0);
    expect((await running).kind).toBe('response');
  });

  it('kills processes that left the runtime session when it stops, and removes its temp dir', async () => {
    const { pool, tempRoot } = makePool();
    await pool.start();
    const body = json(await invoke(pool, { fake: 'spawn-orphan' }));
    const runtimePid = body.pid as number;
    const orphan = body.orphan as number;
    expect(findFamily({ leaderPid: runtimePid }).map((info) => info.pid)).toContain(orphan);
    await pool.stop('test');
    expect(findFamily({ leaderPid: runtimePid })).toEqual([]);
    // Checked by pid too: once the runtime is dead the orphan is init's child and no longer traceable to it.
    expect(listProcesses().filter((info) => info.pid === orphan && info.state !== 'Z' && info.state !== 'X')).toEqual([]);
    expect(existsSync(join(tempRoot, 'runtime-1'))).toBe(false);
  });
});

describe('tenancy perTenant (Lambda tenant isolation mode)', () => {
  it("refuses an invocation without a tenant id, and a shared pool one with a tenant id, with Lambda's sentence", async () => {
    const perTenant = makePool({ tenancy: 'perTenant' }).pool;
    await expect(invoke(perTenant, {})).rejects.toThrow(
      new TenantIdError(
        'Tenant ID configuration not specified or passed to a function when tenant isolation is not enabled. This function runs with tenancy perTenant: ' +
          'pass a tenant id (header X-Amz-Tenant-Id, aws lambda invoke --tenant-id, or TenantId in the SDK).',
      ),
    );
    const shared = makePool({ tenancy: 'shared' }).pool;
    await expect(invoke(shared, {}, 'tenant-a')).rejects.toBeInstanceOf(TenantIdError);
    expect(perTenant.health().runtimes).toEqual([]);
  });

  it("starts no runtime before a tenant's first invocation, then serves that tenant's next ones warm from the same runtime", async () => {
    const { pool } = makePool({ tenancy: 'perTenant', size: 2, initEnv: { AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '256' } });
    await pool.start();
    expect(pool.health().runtimes).toEqual([]);
    const first = await invoke(pool, {}, 'tenant-a');
    const second = await invoke(pool, {}, 'tenant-a');
    expect([json(first).tenantId, json(second).tenantId]).toEqual(['tenant-a', 'tenant-a']);
    expect(json(second).pid).toBe(json(first).pid);
    // Lambda's own sign of a cold start: only a new environment's first REPORT line has an Init Duration.
    expect(first.logTail).toContain('Init Duration');
    expect(second.logTail).not.toContain('Init Duration');
    expect(pool.health().runtimes.map((runtime) => runtime.tenantId)).toEqual(['tenant-a']);
  });

  it("never hands one tenant's invocation to another tenant's runtime, even an idle one", async () => {
    const { pool } = makePool({ tenancy: 'perTenant', size: 2 });
    const seen: Record<string, Set<number>> = { 'tenant-a': new Set(), 'tenant-b': new Set() };
    for (let round = 0; round < 3; round += 1) {
      for (const tenantId of Object.keys(seen)) {
        const body = json(await invoke(pool, {}, tenantId));
        expect(body.tenantId).toBe(tenantId);
        seen[tenantId]!.add(body.pid as number);
      }
    }
    expect([seen['tenant-a']!.size, seen['tenant-b']!.size]).toEqual([1, 1]);
    expect([...seen['tenant-a']!].filter((pid) => seen['tenant-b']!.has(pid))).toEqual([]);
  });

  it('retires the least recently used idle runtime, every process of it, when another tenant needs its slot', async () => {
    const { pool } = makePool({ tenancy: 'perTenant', size: 2 });
    const pidOf = async (tenantId: string): Promise<number> => json(await invoke(pool, {}, tenantId)).pid as number;
    const a = await pidOf('tenant-a');
    const b = await pidOf('tenant-b');
    expect(await pidOf('tenant-a')).toBe(a);
    // Two runtimes at most: tenant-c takes the place of tenant-b, the one idle longest.
    const c = await pidOf('tenant-c');
    expect(new Set([a, b, c]).size).toBe(3);
    expect(isAlive(b)).toBe(false);
    expect(isAlive(a)).toBe(true);
    expect(pool.health().runtimes.map((runtime) => runtime.tenantId).sort()).toEqual(['tenant-a', 'tenant-c']);
    // tenant-b comes back to a new runtime (cold), never to one another tenant used.
    const again = await pidOf('tenant-b');
    expect([a, c]).not.toContain(again);
    expect(isAlive(a)).toBe(false);
    expect(pool.health().runtimes).toHaveLength(2);
  });

  it("starts another runtime for a tenant's concurrent invocation instead of queueing it behind the busy one", async () => {
    const { pool } = makePool({ tenancy: 'perTenant', size: 2 });
    const [slow, fast] = await Promise.all([invoke(pool, { fake: 'sleep', seconds: 1.5 }, 'tenant-a'), invoke(pool, {}, 'tenant-a')]);
    expect(json(slow).pid).not.toBe(json(fast).pid);
    expect(pool.health().runtimes.map((runtime) => runtime.tenantId)).toEqual(['tenant-a', 'tenant-a']);
  });

  it("makes a tenant wait for a free slot rather than use another tenant's busy runtime", async () => {
    const { pool } = makePool({ tenancy: 'perTenant', size: 1 });
    const busy = invoke(pool, { fake: 'sleep', seconds: 1 }, 'tenant-a');
    await waitFor(() => pool.health().busy === 1, 'tenant-a to be running');
    const waiting = invoke(pool, {}, 'tenant-b');
    expect(pool.health().queued).toBe(1);
    const [first, second] = await Promise.all([busy, waiting]);
    expect(json(second).tenantId).toBe('tenant-b');
    expect(json(second).pid).not.toBe(json(first).pid);
    expect(isAlive(json(first).pid as number)).toBe(false);
  });

  it("answers a tenant's invocations with the init failure while that tenant's runtimes fail their init", async () => {
    const { pool } = makePool({ tenancy: 'perTenant', initEnv: { FAKE_INIT: 'error' } });
    const outcome = await invoke(pool, {}, 'tenant-a');
    expect(outcome.kind).toBe('functionError');
    expect(json(outcome)).toMatchObject({ errorType: 'Runtime.ExitError', errorMessage: expect.stringMatching(/init failed on purpose/) });
  });
});
