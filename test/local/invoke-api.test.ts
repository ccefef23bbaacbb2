/**
 * The local Lambda Invoke API, driven by the real @aws-sdk/client-lambda and
 * the real AWS CLI v2, exactly as the README shows.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { localHealth, startServer, type RunningServer } from './server-process';

let server: RunningServer;
let lambda: LambdaClient;
const FUNCTION_NAME = 'workflow-python-executor';
/** The server runs with tenancy perTenant (the default), so every direct invoke names a tenant. */
const TENANT = 'invoke-api-test';

beforeAll(async () => {
  server = await startServer();
  lambda = new LambdaClient({
    endpoint: server.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
});

afterAll(async () => {
  lambda?.destroy();
  await server?.stop();
});

function decode(payload: Uint8Array | undefined): any {
  return JSON.parse(Buffer.from(payload ?? new Uint8Array()).toString('utf8'));
}

async function invokeError(command: InvokeCommand): Promise<{ name: string; message: string; status?: number }> {
  try {
    await lambda.send(command);
  } catch (error) {
    const failure = error as { name: string; message: string; $metadata?: { httpStatusCode?: number } };
    return { name: failure.name, message: failure.message, status: failure.$metadata?.httpStatusCode };
  }
  throw new Error('The invocation was expected to fail.');
}

describe('local Lambda Invoke API with @aws-sdk/client-lambda', () => {
  it('invokes the executor synchronously and returns its response payload', async () => {
    const output = await lambda.send(
      new InvokeCommand({ FunctionName: FUNCTION_NAME, TenantId: TENANT, Payload: Buffer.from(JSON.stringify({ script: 'def main(x):\n    return x + 1', input: 41 })) }),
    );
    expect(output.StatusCode).toBe(200);
    expect(output.FunctionError).toBeUndefined();
    expect(output.ExecutedVersion).toBe('$LATEST');
    const body = decode(output.Payload);
    expect(body).toMatchObject({ ok: true, result: 42 });
  });

  it('returns artifacts inline (contentBase64) on a direct invoke, as the contract says', async () => {
    const output = await lambda.send(
      new InvokeCommand({ FunctionName: FUNCTION_NAME, TenantId: TENANT, Payload: Buffer.from(JSON.stringify({ script: 'open("outputs/a.txt", "w").write("artifact!")' })) }),
    );
    const body = decode(output.Payload);
    expect(body.artifacts).toHaveLength(1);
    expect(body.artifacts[0]).toMatchObject({ name: 'a.txt', size: 9 });
    expect(Buffer.from(body.artifacts[0].contentBase64, 'base64').toString()).toBe('artifact!');
  });

  it('accepts the function ARN, a partial ARN and the $LATEST qualifier', async () => {
    for (const name of [
      `arn:aws:lambda:us-east-1:000000000000:function:${FUNCTION_NAME}`,
      `000000000000:function:${FUNCTION_NAME}`,
      `${FUNCTION_NAME}:$LATEST`,
    ]) {
      const output = await lambda.send(new InvokeCommand({ FunctionName: name, TenantId: TENANT, Payload: Buffer.from('{"script": "print(1)"}') }));
      expect([name, decode(output.Payload).stdout]).toEqual([name, '1\n']);
    }
    const qualified = await lambda.send(new InvokeCommand({ FunctionName: FUNCTION_NAME, TenantId: TENANT, Qualifier: '$LATEST', Payload: Buffer.from('{"script": "print(2)"}') }));
    expect(decode(qualified.Payload).stdout).toBe('2\n');
  });

  it('answers unknown functions and qualifiers with ResourceNotFoundException', async () => {
    const unknown = await invokeError(new InvokeCommand({ FunctionName: 'other-function', Payload: Buffer.from('{}') }));
    expect(unknown).toMatchObject({ name: 'ResourceNotFoundException', status: 404 });
    expect(unknown.message).toMatch(/^Function not found: arn:aws:lambda:us-east-1:000000000000:function:other-function\./);
    const alias = await invokeError(new InvokeCommand({ FunctionName: FUNCTION_NAME, TenantId: TENANT, Qualifier: 'prod', Payload: Buffer.from('{}') }));
    expect(alias).toMatchObject({ name: 'ResourceNotFoundException', status: 404 });
  });

  it('rejects the Event invocation type, supports DryRun, and returns the log tail on request', async () => {
    const event = await invokeError(new InvokeCommand({ FunctionName: FUNCTION_NAME, TenantId: TENANT, InvocationType: 'Event', Payload: Buffer.from('{}') }));
    expect(event).toMatchObject({ name: 'InvalidParameterValueException', status: 400 });
    expect(event.message).toMatch(/use RequestResponse/);
    const dryRun = await lambda.send(new InvokeCommand({ FunctionName: FUNCTION_NAME, TenantId: TENANT, InvocationType: 'DryRun', Payload: Buffer.from('{}') }));
    expect(dryRun.StatusCode).toBe(204);
    const tail = await lambda.send(new InvokeCommand({ FunctionName: FUNCTION_NAME, TenantId: TENANT, LogType: 'Tail', Payload: Buffer.from('{"script": "print(3)"}') }));
    const log = Buffer.from(tail.LogResult ?? '', 'base64').toString('utf8');
    expect(log).toMatch(/^START RequestId: [0-9a-f-]{36} Version: \$LATEST\n/);
    expect(log).toMatch(/\nEND RequestId: [0-9a-f-]{36}\nREPORT RequestId: [0-9a-f-]{36}\tDuration: [\d.]+ ms\tBilled Duration: \d+ ms\tMemory Size: \d+ MB(\tInit Duration: [\d.]+ ms)?\n$/);
  });

  it('rejects payloads that are not JSON and payloads over 6 MB like Lambda', async () => {
    const notJson = await invokeError(new InvokeCommand({ FunctionName: FUNCTION_NAME, TenantId: TENANT, Payload: Buffer.from('{"script": ') }));
    expect(notJson).toMatchObject({ name: 'InvalidRequestContentException', status: 400 });
    expect(notJson.message).toMatch(/^Could not parse request body into json/);
    const huge = await invokeError(
      new InvokeCommand({ FunctionName: FUNCTION_NAME, TenantId: TENANT, Payload: Buffer.from(JSON.stringify({ script: 'pass', input: 'x'.repeat(6 * 1024 * 1024) })) }),
    );
    expect(huge).toMatchObject({ name: 'RequestTooLargeException', status: 413 });
  });

  it('passes invalid requests to the executor, which answers them in the payload (not as function errors)', async () => {
    const output = await lambda.send(new InvokeCommand({ FunctionName: FUNCTION_NAME, TenantId: TENANT, Payload: Buffer.from('{"script": ""}') }));
    expect(output.FunctionError).toBeUndefined();
    expect(decode(output.Payload)).toMatchObject({ ok: false, errorType: 'InvalidRequest', error: "'script' must not be empty" });
  });

  it('answers the health event with the executor report', async () => {
    const output = await lambda.send(new InvokeCommand({ FunctionName: FUNCTION_NAME, TenantId: TENANT, Payload: Buffer.from('{"action": "health"}') }));
    const body = decode(output.Payload);
    expect(body.ok).toBe(true);
    expect(body.health.layers.worker_process.active).toBe(true);
  });

  it("answers an invocation without a tenant id with Lambda's InvalidParameterValueException, status 400, and runs nothing", async () => {
    const before = await localHealth(server.url);
    const missing = await invokeError(new InvokeCommand({ FunctionName: FUNCTION_NAME, Payload: Buffer.from('{"script": "print(1)"}') }));
    expect(missing).toEqual({
      name: 'InvalidParameterValueException',
      status: 400,
      message:
        'Tenant ID configuration not specified or passed to a function when tenant isolation is not enabled. This function runs with tenancy perTenant: ' +
        'pass a tenant id (header X-Amz-Tenant-Id, aws lambda invoke --tenant-id, or TenantId in the SDK).',
    });
    const after = await localHealth(server.url);
    expect(after.runtimes.reduce((sum, runtime) => sum + runtime.invocations, 0)).toBe(before.runtimes.reduce((sum, runtime) => sum + runtime.invocations, 0));
  });

  it("refuses a tenant id outside Lambda's TenantId constraint with InvalidParameterValueException", async () => {
    for (const tenantId of ['a'.repeat(257), 'semi;colon']) {
      const refused = await invokeError(new InvokeCommand({ FunctionName: FUNCTION_NAME, TenantId: tenantId, Payload: Buffer.from('{}') }));
      expect({ name: refused.name, status: refused.status }).toEqual({ name: 'InvalidParameterValueException', status: 400 });
      expect(refused.message).toMatch(/^X-Amz-Tenant-Id must be 1 to 256 characters of letters, digits, spaces and \. _ : \/ = \+ - @/);
    }
  });
});

/** The AWS CLI v2: AWS_CLI, else Debian's awscli package, which .ci/run installs (an older pip `aws` v1 may come first on PATH). */
function findAwsCliV2(): string | undefined {
  const candidates = process.env.AWS_CLI ? [process.env.AWS_CLI] : ['/usr/bin/aws', 'aws'];
  for (const candidate of candidates) {
    const probe = spawnSync(candidate, ['--version'], { encoding: 'utf8' });
    if (probe.status === 0 && /^aws-cli\/2\./.test(`${probe.stdout}${probe.stderr}`.trim())) return candidate;
  }
  return undefined;
}

describe('local Lambda Invoke API with the AWS CLI v2', () => {
  const aws = findAwsCliV2();
  // A throwaway HOME, so no ~/.aws config or credentials of the machine take part.
  const cliHome = mkdtempSync(join(tmpdir(), 'aws-cli-home-'));
  afterAll(() => rmSync(cliHome, { recursive: true, force: true }));
  const cliEnv = (): NodeJS.ProcessEnv => ({
    PATH: process.env.PATH,
    HOME: cliHome,
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_REGION: 'us-east-1',
    AWS_EC2_METADATA_DISABLED: 'true',
  });

  it('is installed (CI must have it; a missing CLI fails there instead of skipping)', () => {
    if (aws === undefined && process.env.CI !== 'true') {
      console.warn('AWS CLI v2 not found (install Debian awscli); its tests are skipped outside CI.');
      return;
    }
    expect(aws).toBeDefined();
  });

  const itWithCli = aws !== undefined ? it : it.skip;

  /** Runs the CLI in a throwaway folder; `out.json` is read back when the CLI wrote it. */
  function runCli(args: string[]): { status: number | null; stdout: string; stderr: string; out: unknown } {
    const workdir = mkdtempSync(join(tmpdir(), 'aws-cli-out-'));
    try {
      const result = spawnSync(aws!, args, { cwd: workdir, env: cliEnv(), encoding: 'utf8' });
      const outFile = join(workdir, 'out.json');
      const out = existsSync(outFile) ? (JSON.parse(readFileSync(outFile, 'utf8')) as unknown) : undefined;
      return { status: result.status, stdout: result.stdout, stderr: result.stderr, out };
    } finally {
      rmSync(workdir, { recursive: true, force: true });
    }
  }

  const invokeArgs = (...extra: string[]): string[] => [
    'lambda', 'invoke',
    '--endpoint-url', server.url,
    '--function-name', FUNCTION_NAME,
    ...extra,
    '--cli-binary-format', 'raw-in-base64-out',
    '--payload', '{"script": "print(6 * 7)"}',
    '--no-cli-pager',
    'out.json',
  ];

  itWithCli('runs `aws lambda invoke --endpoint-url --tenant-id` as the README shows, or, on a CLI from before tenant isolation, fails on the flag as the README warns', () => {
    // Whether this CLI knows the flag is its own property (Debian 12's awscli 2.9.19 does not), read from its help.
    const knowsTenantId = spawnSync(aws!, ['lambda', 'invoke', 'help'], { env: cliEnv(), encoding: 'utf8' }).stdout.includes('--tenant-id');
    const result = runCli(invokeArgs('--tenant-id', 'demo'));
    expect(server.output()).toContain(`aws lambda invoke --endpoint-url ${server.url} --function-name ${FUNCTION_NAME} --tenant-id demo`);
    if (knowsTenantId) {
      expect([result.status, result.stderr]).toEqual([0, '']);
      expect(JSON.parse(result.stdout)).toEqual({ StatusCode: 200, ExecutedVersion: '$LATEST' });
      expect(result.out).toMatchObject({ ok: true, stdout: '42\n', errorType: null });
    } else {
      expect(result.status).not.toBe(0);
      expect(result.stderr).toContain('Unknown options: --tenant-id');
      expect(result.out).toBeUndefined();
    }
  });

  itWithCli("gets Lambda's InvalidParameterValueException and a non-zero exit when it sends no tenant id", () => {
    const result = runCli(invokeArgs());
    expect(result.status).toBe(254);
    expect(result.stderr).toMatch(
      /An error occurred \(InvalidParameterValueException\) when calling the Invoke operation: Tenant ID configuration not specified or passed to a function when tenant isolation is not enabled\./,
    );
    expect(result.out).toBeUndefined();
  });

  itWithCli('reports an unknown function with the service error and a non-zero exit', () => {
    const result = runCli(['lambda', 'invoke', '--endpoint-url', server.url, '--function-name', 'nope', '--cli-binary-format', 'raw-in-base64-out', '--payload', '{}', '--no-cli-pager', 'out.json']);
    expect(result.status).toBe(254);
    expect(result.stderr).toMatch(/An error occurred \(ResourceNotFoundException\) when calling the Invoke operation: Function not found/);
    expect(result.out).toBeUndefined();
  });
});
