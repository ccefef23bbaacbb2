/**
 * Tenant isolation under the real local server, end to end: POST /execute
 * through the real invoker (which derives the tenant from the caller and
 * X-Tenant-Id) and the Lambda Invoke API with the real SDK's TenantId, both
 * routed by the pool to runtimes dedicated to one tenant.
 */
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { localHealth, postExecute, startServer, type LocalHealth, type RunningServer } from './server-process';

const FUNCTION_NAME = 'workflow-python-executor';

function lambdaClient(url: string): LambdaClient {
  return new LambdaClient({ endpoint: url, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, maxAttempts: 1 });
}

async function invokeFailure(client: LambdaClient, command: InvokeCommand): Promise<{ name: string; status?: number; message: string }> {
  try {
    await client.send(command);
  } catch (error) {
    const failure = error as { name: string; message: string; $metadata?: { httpStatusCode?: number } };
    return { name: failure.name, status: failure.$metadata?.httpStatusCode, message: failure.message };
  }
  throw new Error('The invocation was expected to fail.');
}

type Runtime = LocalHealth['runtimes'][number];

/** A server with these settings for the enclosing describe block, and an SDK client for its Invoke API. */
function serverFor(env: Record<string, string>): () => { server: RunningServer; lambda: LambdaClient } {
  let running: { server: RunningServer; lambda: LambdaClient } | undefined;
  beforeAll(async () => {
    const server = await startServer({ env });
    running = { server, lambda: lambdaClient(server.url) };
  }, 180_000);
  afterAll(async () => {
    running?.lambda.destroy();
    await running?.server.stop();
  });
  return () => running!;
}

/** The one runtime whose invocation count grew between two status reads: the one that served the request in between. */
function servedBy(before: LocalHealth, after: LocalHealth): Runtime {
  const grown = after.runtimes.filter((runtime) => {
    const earlier = before.runtimes.find((candidate) => candidate.pid === runtime.pid);
    return runtime.invocations > (earlier?.invocations ?? 0);
  });
  expect(grown).toHaveLength(1);
  return grown[0]!;
}

describe('tenancy perTenant (the default) under the local server', () => {
  const current = serverFor({ SANDBOX_CONCURRENCY: '2' });

  it("never lets two tenants share a runtime process, while one tenant's consecutive requests reuse its warm runtime", async () => {
    const { server } = current();
    const served: Record<string, Runtime[]> = { alpha: [], beta: [] };
    for (let round = 0; round < 3; round += 1) {
      for (const tenant of Object.keys(served)) {
        const before = await localHealth(server.url);
        const { status, body } = await postExecute(server.url, { script: 'def main(x):\n    return x * 2', input: round }, { 'X-Tenant-Id': tenant });
        expect([status, body.result]).toEqual([200, round * 2]);
        served[tenant]!.push(servedBy(before, await localHealth(server.url)));
      }
    }
    const pids = (tenant: string): Set<number | null> => new Set(served[tenant]!.map((runtime) => runtime.pid));
    // Warm reuse: each tenant ran all three requests in one runtime process.
    expect([pids('alpha').size, pids('beta').size]).toEqual([1, 1]);
    expect([...pids('alpha')].filter((pid) => pids('beta').has(pid))).toEqual([]);
    // Each runtime is dedicated to the tenant the invoker derived: the local caller's hash, then the header.
    for (const tenant of Object.keys(served)) {
      for (const runtime of served[tenant]!) expect(runtime.tenantId).toMatch(new RegExp(`^[0-9a-f]{24}:${tenant}$`));
    }
    expect(served.alpha![0]!.tenantId!.split(':')[0]).toBe(served.beta![0]!.tenantId!.split(':')[0]);
  });

  it("answers an invalid X-Tenant-Id through the real invoker with the contract's 400, and runs nothing", async () => {
    const { server } = current();
    const before = await localHealth(server.url);
    const { status, body } = await postExecute(server.url, { script: 'print(1)' }, { 'X-Tenant-Id': 'not/allowed' });
    expect([status, body.errorType, body.error]).toEqual([400, 'InvalidRequest', "Header 'X-Tenant-Id' may contain only letters A-Z and a-z, digits, '.', '_' and '-'"]);
    const after = await localHealth(server.url);
    expect(after.runtimes.map((runtime) => runtime.invocations)).toEqual(before.runtimes.map((runtime) => runtime.invocations));
  });

  it("routes a direct invoke with TenantId to that tenant's own runtime: cold the first time, warm the second", async () => {
    const { server, lambda } = current();
    const invoke = (): Promise<{ log: string; pid: number | undefined }> =>
      lambda.send(new InvokeCommand({ FunctionName: FUNCTION_NAME, TenantId: 'direct-tenant', LogType: 'Tail', Payload: Buffer.from('{"script": "print(1)"}') })).then(async (output) => {
        const runtime = (await localHealth(server.url)).runtimes.find((candidate) => candidate.tenantId === 'direct-tenant');
        return { log: Buffer.from(output.LogResult ?? '', 'base64').toString('utf8'), pid: runtime?.pid ?? undefined };
      });
    const first = await invoke();
    const second = await invoke();
    expect(first.pid).toBeDefined();
    expect(second.pid).toBe(first.pid);
    expect(first.log).toContain('Init Duration');
    expect(second.log).not.toContain('Init Duration');
    // SANDBOX_CONCURRENCY is the total over tenants: the runtime of the tenant idle longest made room.
    expect((await localHealth(server.url)).runtimes.length).toBeLessThanOrEqual(2);
  });
});

describe('tenancy shared under the local server', () => {
  const current = serverFor({ TENANCY: 'shared', SANDBOX_CONCURRENCY: '1' });

  it("answers a direct invoke that carries a tenant id with Lambda's InvalidParameterValueException, status 400", async () => {
    const { lambda } = current();
    const refused = await invokeFailure(lambda, new InvokeCommand({ FunctionName: FUNCTION_NAME, TenantId: 'blue', Payload: Buffer.from('{}') }));
    expect(refused).toEqual({
      name: 'InvalidParameterValueException',
      status: 400,
      message:
        'Tenant ID configuration not specified or passed to a function when tenant isolation is not enabled. This function runs with tenancy shared: leave the tenant id out.',
    });
    const output = await lambda.send(new InvokeCommand({ FunctionName: FUNCTION_NAME, Payload: Buffer.from('{"script": "print(5)"}') }));
    expect(JSON.parse(Buffer.from(output.Payload!).toString('utf8'))).toMatchObject({ ok: true, stdout: '5\n' });
  });

  it('still validates X-Tenant-Id on POST /execute, and serves every tenant from the one shared runtime', async () => {
    const { server } = current();
    const invalid = await postExecute(server.url, { script: 'print(1)' }, { 'X-Tenant-Id': '' });
    expect([invalid.status, invalid.body.errorType]).toEqual([400, 'InvalidRequest']);
    const pids = new Set<number | null>();
    for (const tenant of ['alpha', 'beta']) {
      const before = await localHealth(server.url);
      expect((await postExecute(server.url, { script: 'print(1)' }, { 'X-Tenant-Id': tenant })).status).toBe(200);
      const runtime = servedBy(before, await localHealth(server.url));
      expect(runtime.tenantId).toBeNull();
      pids.add(runtime.pid);
    }
    expect(pids.size).toBe(1);
  });
});
