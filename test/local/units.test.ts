/**
 * Unit-level behaviour of the local server's parts: configuration checks,
 * the API Gateway event it builds, function-name parsing, artifact retention
 * and the traceback line the playground highlights.
 */
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync, existsSync } from 'node:fs';
import { createServer, request, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apiGatewayRequestTime, LOCAL_CALLER_ARN, toProxyEvent } from '../../local/api-gateway';
import { LocalArtifactFolder, contentTypeFor } from '../../local/artifacts';
import { ConfigError, loadConfig, SETTINGS } from '../../local/config';
import { parseFunctionName } from '../../local/invoke-api';
import { checkAccess } from '../../local/auth';
import { failingLine } from '../../local/playground/traceback';

describe('local configuration', () => {
  it('applies the documented defaults', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      host: '127.0.0.1',
      port: 3000,
      sandboxConcurrency: 2,
      tenancy: 'perTenant',
      sandboxPython: undefined,
      queueWaitMs: 10000,
      queueLimit: 32,
      functionTimeoutS: 30,
      artifactRetentionMs: 3600000,
      localToken: undefined,
      sandboxUidBase: 62001,
    });
    expect(config.executorEnv.EXECUTOR_MAX_TIMEOUT_MS).toBe('25000');
  });

  it.each([
    [{ PORT: 'abc' }, 'PORT must be a whole number between 0 and 65535 (a TCP port; 0 picks a free one), but it is "abc".'],
    [{ PORT: '70000' }, 'PORT must be between 0 and 65535 (a TCP port; 0 picks a free one), but it is 70000.'],
    [{ SANDBOX_CONCURRENCY: '0' }, 'SANDBOX_CONCURRENCY must be between 1 and 64 (runtimes), but it is 0.'],
    [{ TENANCY: 'isolated' }, 'TENANCY must be perTenant or shared, but it is "isolated".'],
    [{ HOST: 'example.com' }, 'HOST must be an IP address such as 127.0.0.1 or 0.0.0.0 (or "localhost"), but it is "example.com".'],
    [{ FUNCTION_TIMEOUT_S: '26' }, 'FUNCTION_TIMEOUT_S (26 s) must be at least 2 s above EXECUTOR_MAX_TIMEOUT_MS (25000 ms); raise FUNCTION_TIMEOUT_S to 27 or lower EXECUTOR_MAX_TIMEOUT_MS.'],
    [{ LOCAL_TOKEN: 'short' }, 'LOCAL_TOKEN must be at least 16 characters of letters, digits and . _ ~ + / = -; generate one with `openssl rand -hex 24`.'],
    [{ EXECUTOR_MAX_TIMEOUT_MS: 'ten' }, "EXECUTOR_MAX_TIMEOUT_MS must be a positive integer (highest accepted 'timeoutMs'), but it is 'ten'."],
  ])('refuses %j with a sentence naming the variable', (env, message) => {
    expect(() => loadConfig(env)).toThrow(new ConfigError(message));
  });

  it('takes every default from the settings table', () => {
    const explicit = Object.fromEntries(SETTINGS.filter((setting) => setting.defaultValue !== undefined).map((setting) => [setting.key, String(setting.defaultValue)]));
    expect(Object.keys(explicit).length).toBeGreaterThan(10);
    expect(loadConfig(explicit)).toEqual(loadConfig({}));
  });

  it.each(SETTINGS.filter((setting) => setting.max !== undefined).map((setting) => [setting.key, setting.min!, setting.max!]))(
    'refuses %s outside its table range %i to %i',
    (key, min, max) => {
      expect(() => loadConfig({ [key]: String(max + 1) })).toThrow(`${key} must be between ${min} and ${max}`);
      if (min > 0) expect(() => loadConfig({ [key]: String(min - 1) })).toThrow(`${key} must be between ${min} and ${max}`);
    },
  );

  it.each(SETTINGS.filter((setting) => setting.choices !== undefined).map((setting) => [setting.key]))(
    'refuses a value of %s outside its table choices',
    (key) => {
      expect(() => loadConfig({ [key]: 'neither' })).toThrow(new RegExp(`^${key} must be .* but it is "neither"\\.$`));
    },
  );

  it('requires LOCAL_TOKEN when binding a non-loopback address', () => {
    expect(() => loadConfig({ HOST: '0.0.0.0' })).toThrow(/HOST=0\.0\.0\.0 makes the server reachable from other machines.*set LOCAL_TOKEN/);
    expect(loadConfig({ HOST: '0.0.0.0', LOCAL_TOKEN: 'a'.repeat(24) }).localToken).toBe('a'.repeat(24));
    expect(loadConfig({ HOST: '::1' }).host).toBe('::1');
  });
});

describe('API Gateway proxy event', () => {
  async function captured(send: (port: number) => void): Promise<{ req: IncomingMessage; body: Buffer }> {
    return new Promise((resolve) => {
      const server = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (chunk: Buffer) => chunks.push(chunk));
        req.on('end', () => {
          res.end();
          server.close();
          resolve({ req, body: Buffer.concat(chunks) });
        });
      });
      server.listen(0, '127.0.0.1', () => send((server.address() as AddressInfo).port));
    });
  }

  it('keeps header spelling, repeated headers and query values like API Gateway, and base64-encodes non-UTF-8 bodies', async () => {
    const { req, body } = await captured((port) => {
      const client = request({ port, host: '127.0.0.1', method: 'POST', path: '/execute?a=1&a=2&b=x', headers: { 'X-Custom': ['one', 'two'], 'Content-Type': 'application/json' } });
      client.end(Buffer.from([0x7b, 0xff, 0x7d]));
    });
    const event = toProxyEvent({ req, path: '/execute', query: new URL('http://x/execute?a=1&a=2&b=x').searchParams, body, requestId: 'req-1' });
    expect(event.resource).toBe('/execute');
    expect(event.httpMethod).toBe('POST');
    expect(event.headers['X-Custom']).toBe('two');
    expect(event.multiValueHeaders['X-Custom']).toEqual(['one', 'two']);
    expect(event.headers['Content-Type']).toBe('application/json');
    expect(event.queryStringParameters).toEqual({ a: '2', b: 'x' });
    expect(event.multiValueQueryStringParameters).toEqual({ a: ['1', '2'], b: ['x'] });
    expect(event.isBase64Encoded).toBe(true);
    expect(Buffer.from(event.body ?? '', 'base64')).toEqual(Buffer.from([0x7b, 0xff, 0x7d]));
    expect(event.requestContext.requestId).toBe('req-1');
    expect(event.requestContext.stage).toBe('local');
    expect(event.requestContext.identity.sourceIp).toBe('127.0.0.1');
    // The one local caller, where API Gateway's IAM auth puts the caller: the invoker derives the tenant from it.
    expect(event.requestContext.identity.userArn).toBe(LOCAL_CALLER_ARN);
  });

  it('sends an empty body as null and unknown paths to the catch-all resource', async () => {
    const { req, body } = await captured((port) => request({ port, host: '127.0.0.1', method: 'GET', path: '/other' }).end());
    const event = toProxyEvent({ req, path: '/other', query: new URLSearchParams(), body });
    expect(event.body).toBeNull();
    expect(event.isBase64Encoded).toBe(false);
    expect(event.queryStringParameters).toBeNull();
    expect(event.resource).toBe('/{proxy+}');
    expect(event.pathParameters).toEqual({ proxy: 'other' });
  });

  it('formats requestTime as API Gateway does', () => {
    expect(apiGatewayRequestTime(new Date(Date.UTC(2026, 10, 2, 3, 4, 5)))).toBe('02/Nov/2026:03:04:05 +0000');
  });
});

describe('Invoke API function names', () => {
  it.each([
    ['workflow-python-executor', { name: 'workflow-python-executor', qualifier: undefined }],
    ['workflow-python-executor:$LATEST', { name: 'workflow-python-executor', qualifier: '$LATEST' }],
    ['arn:aws:lambda:us-east-1:000000000000:function:fn:prod', { region: 'us-east-1', account: '000000000000', name: 'fn', qualifier: 'prod' }],
    ['000000000000:function:fn', { account: '000000000000', name: 'fn', qualifier: undefined }],
  ])('parses %s', (raw, expected) => {
    expect(parseFunctionName(raw)).toEqual(expected);
  });
});

describe('artifact store', () => {
  it('removes execution folders older than the retention time and keeps newer ones', async () => {
    const root = mkdtempSync(join(tmpdir(), 'artifact-store-test-'));
    try {
      for (const id of ['old', 'new']) {
        mkdirSync(join(root, id));
        writeFileSync(join(root, id, 'a.png'), 'x');
      }
      const now = Date.now();
      utimesSync(join(root, 'old'), new Date(now - 7200000), new Date(now - 7200000));
      const store = new LocalArtifactFolder(root, 3600000);
      expect(await store.sweep(now)).toBe(1);
      expect(existsSync(join(root, 'old'))).toBe(false);
      expect(existsSync(join(root, 'new', 'a.png'))).toBe(true);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('names content types by extension and falls back to a download type', () => {
    expect(contentTypeFor('chart.PNG')).toBe('image/png');
    expect(contentTypeFor('data.csv')).toBe('text/csv; charset=utf-8');
    expect(contentTypeFor('model.bin')).toBe('application/octet-stream');
  });
});

describe('playground failing line', () => {
  it('is the last frame of the submitted script in the traceback', () => {
    const traceback = 'Traceback (most recent call last):\n  File "<script>", line 6, in main\n  File "<script>", line 2, in average\nZeroDivisionError: division by zero';
    expect(failingLine(traceback)).toBe(2);
    expect(failingLine('SyntaxError without frames')).toBeNull();
    expect(failingLine(null)).toBeNull();
  });
});

describe('access checks', () => {
  const req = (headers: Record<string, string>): IncomingMessage => ({ headers: { host: '127.0.0.1:3000', ...headers } }) as unknown as IncomingMessage;
  const open = { token: undefined, bindHost: '127.0.0.1' };
  const guarded = { token: 'a-very-secret-token-123', bindHost: '0.0.0.0' };

  it('lets same-origin and non-browser callers in on loopback without a token', () => {
    expect(checkAccess(req({}), 'api', open)).toBeUndefined();
    expect(checkAccess(req({ origin: 'http://127.0.0.1:3000', 'sec-fetch-site': 'same-origin' }), 'api', open)).toBeUndefined();
  });

  it('refuses other websites, null origins and rebound host names', () => {
    expect(checkAccess(req({ origin: 'https://evil.example' }), 'api', open)?.status).toBe(403);
    expect(checkAccess(req({ origin: 'null' }), 'invoke', open)?.status).toBe(403);
    expect(checkAccess(req({ 'sec-fetch-site': 'cross-site' }), 'api', open)?.status).toBe(403);
    expect(checkAccess(req({ host: 'rebind.evil.example:3000' }), 'static', open)?.status).toBe(403);
  });

  it('requires the token as a Bearer header, or as the SigV4 access key id on the Invoke API', () => {
    expect(checkAccess(req({ host: '192.0.2.1:3000' }), 'api', guarded)).toEqual({
      status: 401,
      message: 'This server requires LOCAL_TOKEN: send the header Authorization: Bearer <token>.',
    });
    expect(checkAccess(req({ authorization: 'Bearer wrong-token-wrong-token' }), 'api', guarded)?.status).toBe(401);
    expect(checkAccess(req({ authorization: 'Bearer a-very-secret-token-123' }), 'api', guarded)).toBeUndefined();
    const sigv4 = 'AWS4-HMAC-SHA256 Credential=a-very-secret-token-123/20261122/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=00';
    expect(checkAccess(req({ authorization: sigv4 }), 'invoke', guarded)).toBeUndefined();
    expect(checkAccess(req({ authorization: sigv4 }), 'api', guarded)?.status).toBe(401);
    expect(checkAccess(req({ authorization: sigv4.replace('a-very', 'b-very') }), 'invoke', guarded)?.status).toBe(403);
    // No peer is exempt, loopback included: a reverse proxy or tunnel makes every caller one.
    expect(checkAccess(req({}), 'invoke', guarded)?.status).toBe(403);
    expect(checkAccess(req({}), 'static', guarded)).toBeUndefined();
    expect(checkAccess(req({}), 'artifact', guarded)).toBeUndefined();
  });
});
