/**
 * The HTTP API of `npm start`, end to end: the real server process, the real
 * invoker handler, the real executor runtimes. Every playground example runs
 * through it, as a new user would run them.
 */
import { spawnSync } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { tenantIdFor } from '../../invoker/tenant';
import { LOCAL_CALLER_ARN } from '../../local/api-gateway';
import { EXAMPLES } from '../../local/playground/examples';
import { localHealth, postExecute, startServer, type RunningServer } from './server-process';

let server: RunningServer;
const BODY_TIMEOUT_MS = 1500;

beforeAll(async () => {
  server = await startServer({ env: { BODY_TIMEOUT_MS: String(BODY_TIMEOUT_MS) } });
});

afterAll(async () => {
  await server?.stop();
});

interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** A request with full control over path, headers and body (fetch normalises paths and sets Origin). */
function raw(
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: Buffer | string; chunks?: Buffer[]; holdOpen?: boolean } = {},
): Promise<RawResponse> {
  const target = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: target.hostname, port: Number(target.port), method, path, headers: options.headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (options.chunks !== undefined) {
      for (const chunk of options.chunks) req.write(chunk);
    } else if (options.body !== undefined) {
      req.write(options.body);
    }
    if (!options.holdOpen) req.end();
  });
}

describe('local HTTP API (POST /execute, GET /healthz)', () => {
  it('runs main(input) and returns the contract response', async () => {
    const { status, body } = await postExecute(server.url, { script: 'def main(input):\n    return input * 2', input: 21 });
    expect(status).toBe(200);
    expect(Object.keys(body)).toEqual(['ok', 'result', 'stdout', 'stderr', 'truncated', 'error', 'errorType', 'traceback', 'artifacts', 'durationMs', 'requestId']);
    expect(body.ok).toBe(true);
    expect(body.result).toBe(42);
  });

  it('runs the README quick-start curl command as printed', () => {
    const command = `curl -s ${server.url}/execute -H 'Content-Type: application/json' -d '{"script": "def main(input):\\n    return input * 2", "input": 21}'`;
    const result = spawnSync('bash', ['-c', command], { encoding: 'utf8' });
    expect(result.status).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ ok: true, result: 42 });
    expect(server.output()).toContain(command);
  });

  describe('every playground example', () => {
    const expectations: Record<string, (status: number, body: Record<string, any>) => void> = {
      hello: (status, body) => {
        expect(status).toBe(200);
        expect(body.stdout).toBe('Hello from the sandbox!\n');
      },
      'main-input': (status, body) => {
        expect(status).toBe(200);
        expect(body.result).toEqual({ sum: 31, max: 9 });
        expect(body.stdout).toBe('summing 8 numbers\n');
      },
      numpy: (status, body) => {
        expect(status).toBe(200);
        expect(body.result.mean).toBeCloseTo(10, 0);
        expect(body.result.first).toHaveLength(3);
      },
      pandas: (status, body) => {
        expect(status).toBe(200);
        expect(body.result).toEqual({ east: 200, north: 165, south: 80 });
        expect(body.artifacts.map((artifact: { name: string }) => artifact.name)).toEqual(['sales.csv']);
      },
      chart: (status, body) => {
        expect(status).toBe(200);
        expect(body.artifacts.map((artifact: { name: string }) => artifact.name)).toEqual(['chart.png']);
      },
      error: (status, body) => {
        expect(status).toBe(422);
        expect(body.errorType).toBe('ScriptError');
        expect(body.stdout).toBe('about to divide by zero\n');
        expect(body.traceback).toMatch(/File "<script>", line 2, in average/);
      },
      timeout: (status, body) => {
        expect(status).toBe(422);
        expect(body.errorType).toBe('Timeout');
      },
    };
    it.each(EXAMPLES.map((example) => [example.id, example] as const))('%s', async (id, example) => {
      const request: Record<string, unknown> = { script: example.script, timeoutMs: example.timeoutMs };
      if (example.input !== '') request.input = JSON.parse(example.input);
      const { status, body } = await postExecute(server.url, request);
      expectations[id](status, body);
    });
  });

  it('serves artifacts with their content type, inert headers and no way out of the artifact folder', async () => {
    const { body } = await postExecute(server.url, {
      script: 'import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.savefig("outputs/line.png")\nopen("outputs/notes.txt", "w").write("hi")',
    });
    const png = body.artifacts.find((artifact: { name: string }) => artifact.name === 'line.png');
    expect(png.url).toMatch(new RegExp(`^${server.url}/artifacts/${body.requestId}/line\\.png$`));
    const image = await fetch(png.url);
    expect(image.status).toBe(200);
    expect(image.headers.get('content-type')).toBe('image/png');
    expect(image.headers.get('content-security-policy')).toContain('sandbox');
    expect(image.headers.get('x-content-type-options')).toBe('nosniff');
    expect(Buffer.from(await image.arrayBuffer()).subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    const text = await fetch(`${server.url}/artifacts/${body.requestId}/notes.txt`);
    expect(text.headers.get('content-disposition')).toMatch(/^attachment;/);
    expect(await text.text()).toBe('hi');

    for (const path of [
      `/artifacts/${body.requestId}/`,
      `/artifacts/${body.requestId}`,
      '/artifacts/%2e%2e/%2e%2e/etc/passwd',
      `/artifacts/${body.requestId}/..%2f..%2f..%2fetc%2fpasswd`,
      `/artifacts/${body.requestId}/%2e%2e`,
      '/artifacts/../../etc/passwd',
    ]) {
      const response = await raw('GET', path);
      expect([path, response.status]).toEqual([path, 404]);
      expect(JSON.parse(response.body).errorType).toBe('NotFound');
    }
    const post = await raw('POST', png.url.slice(server.url.length));
    expect(post.status).toBe(405);
  });

  it('names an artifact from a sub-folder of outputs/ by its path, as the cloud does, and serves it there', async () => {
    const { status, body } = await postExecute(server.url, {
      script: 'import os\nos.makedirs("outputs/plots/2024")\nopen("outputs/plots/2024/a b.csv", "w").write("x,y")',
    });
    expect(status).toBe(200);
    expect(body.artifacts.map((artifact: { name: string; url: string }) => [artifact.name, artifact.url])).toEqual([
      ['plots/2024/a b.csv', `${server.url}/artifacts/${body.requestId}/plots/2024/a%20b.csv`],
    ]);
    const file = await fetch(body.artifacts[0].url);
    expect(file.status).toBe(200);
    expect(await file.text()).toBe('x,y');
    expect((await raw('GET', `/artifacts/${body.requestId}/plots/2024%2Fa%20b.csv`)).status).toBe(404);
  });

  it('answers a body over the 1,000,000-byte limit with 413 JSON before reading it all, declared or streamed', async () => {
    const declared = await raw('POST', '/execute', {
      headers: { 'Content-Type': 'application/json', 'Content-Length': String(10 * 1024 * 1024) },
      holdOpen: true,
      chunks: [Buffer.from('{"script": "')],
    });
    expect(declared.status).toBe(413);
    expect(JSON.parse(declared.body)).toMatchObject({ ok: false, errorType: 'RequestTooLarge', error: 'Request body must be at most 1000000 bytes' });

    const streamed = await raw('POST', '/execute', {
      headers: { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' },
      chunks: Array.from({ length: 12 }, () => Buffer.alloc(128 * 1024, 0x20)),
    });
    expect(streamed.status).toBe(413);
    expect(JSON.parse(streamed.body).errorType).toBe('RequestTooLarge');
  });

  it("keeps the executor's number encoding through POST /execute, as a direct invoke shows it", async () => {
    // The direct invoke runs in the tenant of the API's local caller, as POST /execute does.
    const script = 'def main():\n    return {"mean": 3.0, "big": 1e300, "negativeZero": -0.0, "count": 3}';
    const viaApi = await (await fetch(`${server.url}/execute`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ script }) })).text();
    const direct = await (
      await fetch(`${server.url}/2015-03-31/functions/workflow-python-executor/invocations`, { method: 'POST', headers: { 'X-Amz-Tenant-Id': tenantIdFor('iam', LOCAL_CALLER_ARN, undefined) }, body: JSON.stringify({ script }) })
    ).text();
    const result = (text: string): string => /"result":(\{[^}]*\})/.exec(text)?.[1] ?? text;
    expect(result(viaApi)).toBe('{"mean":3.0,"big":1e+300,"negativeZero":-0.0,"count":3}');
    expect(result(viaApi)).toBe(result(direct));
  });

  it('answers 413 JSON to a client that sends its whole over-limit body before it reads, however long that takes', async () => {
    // Most HTTP libraries (Python's urllib among them) write the whole body and only then read the answer:
    // the server must read and discard the rest instead of resetting the connection, which loses the 413.
    const target = new URL(server.url);
    const socket = connect(Number(target.port), target.hostname);
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    socket.pause();
    const chunk = Buffer.alloc(128 * 1024, 0x20);
    const chunks = 24;
    socket.write(`POST /execute HTTP/1.1\r\nHost: ${target.host}\r\nContent-Type: application/json\r\nContent-Length: ${chunk.length * chunks}\r\n\r\n`);
    const writeError = new Promise<Error>((resolve) => socket.once('error', resolve));
    for (let index = 0; index < chunks; index += 1) {
      // A slow uplink: the body takes several seconds, longer than an answer should keep a socket alive unread.
      const written = new Promise<Error | undefined>((resolve) => socket.write(chunk, (error) => resolve(error ?? undefined)));
      const failed = await Promise.race([written, writeError]);
      expect(failed).toBeUndefined();
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
    const received: Buffer[] = [];
    socket.on('data', (data: Buffer) => received.push(data));
    socket.resume();
    await new Promise<void>((resolve, reject) => {
      const check = (): void => {
        const text = Buffer.concat(received).toString('utf8');
        if (/\r\n\r\n[\s\S]*\}$/.test(text)) resolve();
      };
      socket.on('data', check);
      socket.once('error', reject);
      socket.once('close', () => reject(new Error(`Connection closed after: ${Buffer.concat(received).toString('utf8').slice(0, 300)}`)));
    });
    socket.destroy();
    const text = Buffer.concat(received).toString('utf8');
    expect(text.split('\r\n')[0]).toBe('HTTP/1.1 413 Payload Too Large');
    expect(JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4))).toMatchObject({ ok: false, errorType: 'RequestTooLarge', error: 'Request body must be at most 1000000 bytes' });
  });

  it('answers a body that trickles in past the deadline with 408 JSON (slow loris)', async () => {
    const response = await raw('POST', '/execute', {
      headers: { 'Content-Type': 'application/json', 'Content-Length': '100' },
      chunks: [Buffer.from('{"script": ')],
      holdOpen: true,
    });
    expect(response.status).toBe(408);
    expect(JSON.parse(response.body).error).toBe(`The request body did not arrive within ${BODY_TIMEOUT_MS} ms; send the whole body at once.`);
  });

  it('hands bytes that are not UTF-8 to the handler base64-encoded, as API Gateway does', async () => {
    const response = await raw('POST', '/execute', {
      headers: { 'Content-Type': 'application/json' },
      body: Buffer.concat([Buffer.from('{"script": "print(1)", "x": "'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]),
    });
    expect(response.status).toBe(400);
    expect(JSON.parse(response.body)).toMatchObject({ errorType: 'InvalidRequest', error: 'Request body is not valid UTF-8' });
  });

  it('answers unknown routes 404 and wrong methods 405 with JSON from the handler, and its own routes likewise', async () => {
    const unknown = await raw('GET', '/nope');
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.body).errorType).toBe('NotFound');
    const wrongMethod = await raw('GET', '/execute');
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.allow).toBe('POST, OPTIONS');
    expect(JSON.parse(wrongMethod.body).errorType).toBe('MethodNotAllowed');
    const postPage = await raw('POST', '/');
    expect(postPage.status).toBe(405);
    expect(JSON.parse(postPage.body).errorType).toBe('MethodNotAllowed');
    const invokeGet = await raw('GET', '/2015-03-31/functions/workflow-python-executor/invocations');
    expect(invokeGet.status).toBe(405);
    expect(JSON.parse(invokeGet.body).message).toMatch(/Use POST/);
  });

  it('refuses cross-site browser requests and foreign Host names (DNS rebinding)', async () => {
    const crossSite = await raw('POST', '/execute', {
      headers: { 'Content-Type': 'text/plain', Origin: 'https://evil.example' },
      body: '{"script": "print(1)"}',
    });
    expect(crossSite.status).toBe(403);
    expect(JSON.parse(crossSite.body).error).toMatch(/Cross-site requests are refused/);
    const invokeCrossSite = await raw('POST', '/2015-03-31/functions/workflow-python-executor/invocations', {
      headers: { Origin: 'https://evil.example' },
      body: '{"script": "print(1)"}',
    });
    expect(invokeCrossSite.status).toBe(403);
    const rebound = await raw('GET', '/healthz', { headers: { Host: 'evil.example:3000' } });
    expect(rebound.status).toBe(403);
    const sameOrigin = await raw('POST', '/execute', {
      headers: { 'Content-Type': 'application/json', Origin: server.url, Host: new URL(server.url).host },
      body: '{"script": "print(1)"}',
    });
    expect(sameOrigin.status).toBe(200);
  });

  it('reports the runtimes and the executor health at /healthz', async () => {
    const response = await fetch(`${server.url}/healthz`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as Record<string, any>;
    expect(body.status).toBe('ok');
    expect(Object.keys(body.executor.preloads)).toEqual(expect.arrayContaining(['numpy', 'pandas', 'matplotlib']));
    expect(body.executor.layers.worker_process.active).toBe(true);
    expect([body.local.size, body.local.tenancy]).toEqual([2, 'perTenant']);
    const local = await localHealth(server.url);
    expect(local.size).toBe(2);
    // Runtimes exist for the tenants that called, at most SANDBOX_CONCURRENCY: here only the local caller without X-Tenant-Id.
    expect(local.runtimes.length).toBeGreaterThanOrEqual(1);
    expect(local.runtimes.length).toBeLessThanOrEqual(2);
    for (const runtime of local.runtimes) {
      expect([1, 2]).toContain(runtime.slot);
      expect(['idle', 'busy', 'finishing']).toContain(runtime.state);
      expect(runtime.pid).toEqual(expect.any(Number));
      expect(runtime.tenantId).toMatch(/^[0-9a-f]{24}$/);
    }
  });

  it('serves the playground page, its bundled script and stylesheet with a strict CSP', async () => {
    const page = await fetch(`${server.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    const html = await page.text();
    expect(html).toContain('<script defer src="/playground.js"></script>');
    expect(html).toContain('data-token-required="false"');
    const script = await fetch(`${server.url}/playground.js`);
    expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    const code = await script.text();
    // The bundle carries CodeMirror and the examples itself: nothing is fetched from elsewhere.
    expect(code).toContain('cm-error-line');
    expect(code).not.toMatch(/https?:\/\/(cdn|unpkg|esm\.sh|cdnjs)/);
    const css = await fetch(`${server.url}/playground.css`);
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
  });
});
