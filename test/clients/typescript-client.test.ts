/**
 * clients/typescript against the real local server (LOCAL_TOKEN as its
 * bearer), and, for the two deployed auth modes that only API Gateway can
 * check, against a loopback listener that records what the client sends:
 * the SigV4 signature is then verified by botocore, an independent signer.
 */
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { ExecutorClient, RequestRejectedError, ScriptFailedError, type ExecuteResponse } from '../../clients/typescript/src';
import { sandboxPython, startServer, type RunningServer } from '../local/server-process';

const TOKEN = 'ts-client-token-0123456789';
let server: RunningServer;
let client: ExecutorClient;

beforeAll(async () => {
  server = await startServer({ env: { LOCAL_TOKEN: TOKEN, SANDBOX_CONCURRENCY: '1' } });
  client = new ExecutorClient({ baseUrl: server.url, auth: { mode: 'bearer', token: TOKEN } });
});

afterAll(async () => {
  await server?.stop();
});

async function caught(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to throw');
}

describe('TypeScript client against the local server', () => {
  it('runs a script with input and returns the typed response', async () => {
    const response = await client.run<number>({ script: 'def main(x):\n    print("hi")\n    return x * 2', input: 21, timeoutMs: 5000 });
    expect(response).toMatchObject({ ok: true, result: 42, stdout: 'hi\n', errorType: null, artifacts: [] });
    expect(response.requestId).toMatch(/\S/);
  });

  it('throws ScriptFailedError with errorType, requestId and traceback when the script raises', async () => {
    const error = (await caught(client.run({ script: 'def main():\n    return 1 / 0' }))) as ScriptFailedError;
    expect(error).toBeInstanceOf(ScriptFailedError);
    expect(error).toMatchObject({ name: 'ScriptFailedError', status: 422, errorType: 'ScriptError', message: 'ZeroDivisionError: division by zero', retryable: false });
    expect(error.requestId).toBe(error.response!.requestId);
    expect(error.traceback).toContain('File "<script>", line 2, in main');
  });

  it('throws ScriptFailedError with errorType Timeout at timeoutMs', async () => {
    const error = (await caught(client.run({ script: 'while True: pass', timeoutMs: 300 }))) as ScriptFailedError;
    expect(error).toMatchObject({ status: 422, errorType: 'Timeout' });
  });

  it("throws RequestRejectedError with the contract's sentence for an invalid request", async () => {
    const error = (await caught(client.run({ script: 'print(1)', timeoutMs: 5 }))) as RequestRejectedError;
    expect(error).toBeInstanceOf(RequestRejectedError);
    expect(error).toMatchObject({ status: 400, errorType: 'InvalidRequest', message: "'timeoutMs' must be between 100 and 25000 milliseconds" });
    expect(error.requestId).toMatch(/\S/);
  });

  it('throws RequestRejectedError Unauthorized without the token', async () => {
    const anonymous = new ExecutorClient({ baseUrl: server.url });
    const error = (await caught(anonymous.run({ script: 'print(1)' }))) as RequestRejectedError;
    expect(error).toMatchObject({ status: 401, errorType: 'Unauthorized' });
  });

  it('sends the tenant id, which the server checks', async () => {
    const tenant = new ExecutorClient({ baseUrl: server.url, auth: { mode: 'bearer', token: TOKEN }, tenantId: 'customer-42' });
    await expect(tenant.run({ script: 'print(1)' })).resolves.toMatchObject({ ok: true });
    const invalid = new ExecutorClient({ baseUrl: server.url, auth: { mode: 'bearer', token: TOKEN }, tenantId: 'not valid!' });
    await expect(invalid.run({ script: 'print(1)' })).rejects.toMatchObject({ status: 400, errorType: 'InvalidRequest' });
  });

  it('downloads artifacts: a file the script wrote and an open figure as PNG', async () => {
    const script = 'import matplotlib.pyplot as plt\n\ndef main():\n    plt.plot([1, 2])\n    open("outputs/data.csv", "w").write("x\\n1\\n")';
    const response = await client.run({ script });
    const byName = new Map(response.artifacts.map((artifact) => [artifact.name, artifact]));
    expect(new TextDecoder().decode(await client.downloadArtifact(byName.get('data.csv')!))).toBe('x\n1\n');
    const png = await client.downloadArtifact(byName.get('figure-1.png')!);
    expect(Buffer.from(png.subarray(0, 4))).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47]));
    expect(png.length).toBe(byName.get('figure-1.png')!.size);
  });

  it('reads the health report', async () => {
    const health = await client.health();
    expect(health.status).toBe('ok');
    expect(health.executor).toMatchObject({ python: expect.stringMatching(/^3\.\d+/) });
  });
});

describe('TypeScript client auth modes for a deployment', () => {
  let listener: Server;
  let baseUrl: string;
  const captured: { method: string; url: string; headers: Record<string, string>; body: string }[] = [];
  const completed: ExecuteResponse = {
    ok: true, result: 1, stdout: '', stderr: '', truncated: { stdout: false, stderr: false, artifacts: false },
    error: null, errorType: null, traceback: null, artifacts: [], durationMs: 1, requestId: 'captured',
  };

  beforeAll(async () => {
    listener = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      req.on('end', () => {
        captured.push({ method: req.method!, url: `${baseUrl.replace(/\/v1$/, '')}${req.url}`, headers: req.headers as Record<string, string>, body });
        res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(completed));
      });
    });
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(listener.address() as AddressInfo).port}/v1`;
  });

  afterAll(async () => {
    await new Promise((resolve) => listener.close(resolve));
  });

  it('sends the API key as x-api-key (authMode apiKey)', async () => {
    const apiKeyClient = new ExecutorClient({ baseUrl, auth: { mode: 'apiKey', apiKey: 'key-value-123' }, tenantId: 't1' });
    await apiKeyClient.run({ script: 'print(1)' });
    expect(captured.at(-1)!.headers).toMatchObject({ 'x-api-key': 'key-value-123', 'x-tenant-id': 't1', 'content-type': 'application/json' });
    expect(captured.at(-1)!.headers.authorization).toBeUndefined();
  });

  it('signs with SigV4 for execute-api so that botocore verifies the signature (authMode iam)', async () => {
    const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', sessionToken: 'session-token-1' };
    const iamClient = new ExecutorClient({ baseUrl, auth: { mode: 'iam', region: 'eu-west-1', credentials: async () => credentials }, tenantId: 't2' });
    await iamClient.run({ script: 'def main(x):\n    return x', input: { 'ü': [1, 2] } });
    const request = captured.at(-1)!;
    expect(request.url).toBe(`${baseUrl}/execute`);
    expect(request.headers['x-amz-security-token']).toBe('session-token-1');
    const verdict = await verify(request, credentials.secretAccessKey);
    expect(verdict).toMatchObject({ valid: true, credentialScope: 'eu-west-1/execute-api' });
    expect(verdict.signedHeaders).toEqual(expect.arrayContaining(['host', 'x-amz-date', 'x-tenant-id', 'content-type']));
    expect(await verify({ ...request, body: request.body.replace('return x', 'return 0') }, credentials.secretAccessKey)).toMatchObject({ valid: false });
  });
});

function verify(request: object, secret: string): Promise<{ valid: boolean; credentialScope?: string; signedHeaders?: string[] }> {
  return new Promise((resolve, reject) => {
    const child = execFile(sandboxPython(), [join(__dirname, 'sigv4_verify.py')], { env: { PATH: process.env.PATH ?? '', SIGV4_SECRET_ACCESS_KEY: secret } }, (error, stdout, stderr) => {
      if (error) reject(new Error(`sigv4_verify.py failed; it needs botocore for ${sandboxPython()} (Debian: apt-get install python3-botocore): ${stderr}`));
      else resolve(JSON.parse(stdout) as { valid: boolean });
    });
    child.stdin!.end(JSON.stringify(request));
  });
}
