/**
 * `npm run verify-deployment -- --endpoint <url>` against the real local
 * server: the same checks a user runs against a deployed stack, through the
 * HTTP API and the Lambda Invoke API, with the network probes aimed at a
 * canary on loopback.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { parseReportLines } from '../../scripts/verify/targets';
import { REPO_ROOT, startServer, type RunningServer } from './server-process';

interface Report {
  readonly kind: string;
  readonly facts: { fact: string; status: string; detail: string }[];
}

function runVerify(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join('scripts', 'verify-deployment.ts'), ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('verify-deployment against the local server', () => {
  let server: RunningServer;
  let report: Report;
  let exitCode: number | null;

  beforeAll(async () => {
    server = await startServer();
    const run = await runVerify(['--endpoint', server.url, '--json']);
    exitCode = run.code;
    report = JSON.parse(run.stdout) as Report;
  }, 180_000);

  afterAll(async () => {
    await server?.stop();
  });

  const statusOf = (prefix: string): string[] => report.facts.filter((entry) => entry.fact.startsWith(prefix)).map((entry) => entry.status);

  it('exits 0 with no failed fact and a report of the local server', () => {
    expect(report.kind).toBe('local');
    expect(report.facts.filter((entry) => entry.status === 'failed')).toEqual([]);
    expect(exitCode).toBe(0);
  });

  it('verifies health through the HTTP API and a direct invoke through the Lambda Invoke API', () => {
    expect(statusOf('GET /healthz answers ok')).toEqual(['verified']);
    expect(statusOf('the executor answers a direct invoke')).toEqual(['verified']);
  });

  it('reports every isolation layer the executor probed, the required ones verified', () => {
    for (const layer of ['worker_process', 'rlimits', 'audit_hook', 'scrubbed_environment', 'fresh_workdir', 'redaction']) {
      expect({ layer, status: statusOf(`layer ${layer} `) }).toEqual({ layer, status: ['verified'] });
    }
    expect(report.facts.filter((entry) => entry.fact.startsWith('layer ')).length).toBeGreaterThanOrEqual(11);
  });

  it('reads the init duration from the REPORT line of a fresh runtime, and says memory cannot be measured locally', () => {
    const init = report.facts.find((entry) => entry.fact.startsWith('init duration'))!;
    expect(init.status).toBe('verified');
    expect(init.detail).toMatch(/^\d+ cold start\(s\), longest \d+ ms/);
    const memory = report.facts.find((entry) => entry.fact.startsWith('peak memory'))!;
    expect(memory).toMatchObject({ status: 'not verified', detail: expect.stringContaining('no Max Memory Used') });
  });

  it('verifies that hostile scripts reach no credentials, no DNS, no TCP, no other bucket and no Runtime API, and the canary saw nothing', () => {
    for (const prefix of [
      'a script finds no AWS credentials',
      'a script cannot resolve localhost',
      'a script cannot open TCP to 127.0.0.1:',
      'a script cannot write to another bucket',
      'a script cannot reach the Runtime API',
    ]) {
      expect({ prefix, status: statusOf(prefix) }).toEqual({ prefix, status: ['verified'] });
    }
  });

  it("verifies that two tenants never share a runtime process, each tenant's requests staying in one warm runtime", () => {
    expect(report.facts.find((entry) => entry.fact.startsWith('two tenants'))).toEqual({
      fact: 'two tenants never share an execution environment',
      status: 'verified',
      detail: 'tenant A ran in 1, tenant B in 1 environment(s); function tenant isolation mode: PER_TENANT, none shared',
    });
  });

  it('prints a readable report with a mark per fact and the counts', async () => {
    const run = await runVerify(['--endpoint', server.url]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^verify-deployment: the local server at http:\/\/127\.0\.0\.1:\d+\n/);
    expect(run.stdout).toMatch(/\nVERIFIED {6}GET \/healthz answers ok through the API - /);
    expect(run.stdout).toMatch(/\n\d+ verified, 0 failed, \d+ not verified\.\n/);
  }, 60_000);
});

describe('verify-deployment against a local server with TENANCY=shared', () => {
  let server: RunningServer;
  let run: { code: number | null; stdout: string };

  beforeAll(async () => {
    server = await startServer({ env: { TENANCY: 'shared', SANDBOX_CONCURRENCY: '2' } });
    run = await runVerify(['--endpoint', server.url, '--json']);
  }, 180_000);

  afterAll(async () => {
    await server?.stop();
  });

  it('fails the tenant isolation fact, and exits 1, when two tenants share a runtime; direct invokes then send no tenant id', () => {
    const report = JSON.parse(run.stdout) as Report;
    const tenants = report.facts.find((entry) => entry.fact === 'two tenants never share an execution environment')!;
    expect(tenants.status).toBe('failed');
    expect(tenants.detail).toMatch(/^tenant A ran in \d, tenant B in \d environment\(s\); function tenant isolation mode: none; \d shared \(runtime process \d+\)$/);
    expect(report.facts.find((entry) => entry.fact.startsWith('the executor answers a direct invoke'))!.status).toBe('verified');
    expect(run.code).toBe(1);
  });
});

describe('verify-deployment usage', () => {
  it.each([
    [[], 'Give exactly one of --stack and --endpoint.'],
    [['--stack', 'a', '--endpoint', 'http://127.0.0.1:1'], 'Give exactly one of --stack and --endpoint.'],
    [['--stacks', 'a'], "Unknown or incomplete argument '--stacks'."],
    [['--stack', 'a', '--log-hours', 'x'], "--log-hours must be a whole number of hours from 1 to 336, but it is 'x'."],
  ])('answers %j with exit 2 and a sentence', async (args, sentence) => {
    const run = await runVerify(args);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(sentence);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  }, 30_000);

  it('marks every check failed, and exits 1, when nothing answers at the endpoint', async () => {
    const run = await runVerify(['--endpoint', 'http://127.0.0.1:9', '--json']);
    const report = JSON.parse(run.stdout) as Report;
    expect(run.code).toBe(1);
    expect(report.facts.some((entry) => entry.status === 'verified' && entry.fact.startsWith('a script'))).toBe(false);
    expect(report.facts.find((entry) => entry.fact.startsWith('health'))).toMatchObject({ status: 'failed', detail: expect.stringContaining('did not answer') });
  }, 60_000);
});

describe('REPORT line parsing', () => {
  it("reads Lambda's fields, with Init Duration only on a cold start", () => {
    const log =
      'START RequestId: 3604209a Version: $LATEST\nEND RequestId: 3604209a\n' +
      'REPORT RequestId: 3604209a\tDuration: 12.34 ms\tBilled Duration: 13 ms\tMemory Size: 256 MB\tMax Memory Used: 118 MB\tInit Duration: 4176.67 ms\t\n' +
      'REPORT RequestId: 5f00b1c2\tDuration: 3.10 ms\tBilled Duration: 4 ms\tMemory Size: 256 MB\tMax Memory Used: 120 MB\t\n';
    expect(parseReportLines(log)).toEqual([
      { durationMs: 12.34, memorySizeMb: 256, maxMemoryUsedMb: 118, initDurationMs: 4176.67 },
      { durationMs: 3.1, memorySizeMb: 256, maxMemoryUsedMb: 120 },
    ]);
  });
});
