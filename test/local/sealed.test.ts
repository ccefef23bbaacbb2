/**
 * Sealed invocations end to end on `npm start`: the server gives the invoker
 * and every runtime one fresh key, so POST /execute is sealed all the way to
 * the real executor runtime, while the local Invoke API stays plain for
 * direct callers. The key itself is never shown anywhere.
 */
import { SealKey, seal } from '../../contract';
import { postExecute, startServer, waitUntil, type RunningServer } from './server-process';

let server: RunningServer;
const TENANT = 'sealed-test';
/** The server's key is 32 random bytes in hex: any run of this shape in what it shows would be a leak. */
const KEY_SHAPE = /[0-9a-f]{64}/i;

beforeAll(async () => {
  // Runtime log lines say whether each answer was sealed; debug logging puts the invoker's bodies in its log too.
  server = await startServer({ env: { RUNTIME_LOGS: '1', POWERTOOLS_LOG_LEVEL: 'DEBUG' } });
});

afterAll(async () => {
  await server?.stop();
});

async function invokeDirectly(body: string): Promise<Record<string, unknown>> {
  const response = await fetch(`${server.url}/2015-03-31/functions/workflow-python-executor/invocations`, {
    method: 'POST',
    headers: { 'X-Amz-Tenant-Id': TENANT },
    body,
  });
  expect(response.status).toBe(200);
  return (await response.json()) as Record<string, unknown>;
}

/** The runtime's "execution finished" line for one request id, once the server has forwarded it. */
async function runtimeLogLine(requestId: string): Promise<Record<string, unknown>> {
  const find = (): Record<string, unknown> | undefined =>
    server
      .output()
      .split('\n')
      .map((line) => /^\[runtime-\d+\] (\{.*\})$/.exec(line)?.[1])
      .filter((json): json is string => json !== undefined)
      .map((json) => JSON.parse(json) as Record<string, unknown>)
      .find((record) => record.message === 'execution finished' && record.requestId === requestId);
  await waitUntil(() => find() !== undefined, `the runtime's log line for ${requestId}`);
  return find()!;
}

describe('the local server with sealed invocations', () => {
  it('runs POST /execute sealed end to end, and the script finds no key in its environment', async () => {
    const { status, body } = await postExecute(server.url, {
      script: 'import os\n\ndef main(x):\n    return [x * 1.5, sorted(name for name in os.environ if "SEAL" in name)]',
      input: 2,
    });

    expect(status).toBe(200);
    expect(body.result).toEqual([3, []]);
    expect(await runtimeLogLine(body.requestId as string)).toMatchObject({ ok: true, sealed: true });
  });

  it('passes 3.0 through as 3.0', async () => {
    const response = await fetch(`${server.url}/execute`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ script: 'def main():\n    return 3.0' }),
    });
    expect(await response.text()).toContain('"result":3.0,');
  });

  it('keeps the Invoke API plain for direct callers', async () => {
    const answer = await invokeDirectly(JSON.stringify({ script: 'def main():\n    return 6 * 7' }));

    expect(answer).toMatchObject({ ok: true, result: 42 });
    expect(await runtimeLogLine(answer.requestId as string)).toMatchObject({ sealed: false });
  });

  it('gives every runtime a key: a request sealed with any other key is an InternalError', async () => {
    const wrongKey = new SealKey('not the server\'s key, but long enough to be one');
    const answer = await invokeDirectly(seal(JSON.stringify({ script: 'print(1)' }), wrongKey).body);

    expect(answer).toMatchObject({ ok: false, errorType: 'InternalError' });
    expect(answer.error).toContain('failed its integrity check');
  });

  it('never shows the key: not in /healthz, /local/status or any log line', async () => {
    const health = await (await fetch(`${server.url}/healthz`)).text();
    const status = await (await fetch(`${server.url}/local/status`)).text();

    expect(JSON.parse(health)).toMatchObject({ status: 'ok' });
    expect(health).not.toMatch(KEY_SHAPE);
    expect(status).not.toMatch(KEY_SHAPE);
    expect(server.output()).toContain('"responseBody"');
    expect(server.output()).not.toMatch(KEY_SHAPE);
  });
});
