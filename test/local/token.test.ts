/**
 * LOCAL_TOKEN end to end: the API refuses calls without the token, accepts
 * them with it, and the invoker inside the server still reaches the
 * executor; the playground page loads and asks for the token.
 */
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { postExecute, startServer, type RunningServer } from './server-process';

const TOKEN = 'local-test-token-0123456789';
let server: RunningServer;

beforeAll(async () => {
  server = await startServer({ env: { LOCAL_TOKEN: TOKEN, SANDBOX_CONCURRENCY: '1', TENANCY: 'shared' } });
});

afterAll(async () => {
  await server?.stop();
});

describe('local server with LOCAL_TOKEN', () => {
  it('refuses API calls without the token with 401 JSON', async () => {
    const response = await fetch(`${server.url}/execute`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"script": "print(1)"}' });
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ ok: false, errorType: 'Unauthorized', error: 'This server requires LOCAL_TOKEN: send the header Authorization: Bearer <token>.' });
    expect((await fetch(`${server.url}/local/status`)).status).toBe(401);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(401);
  });

  it('runs scripts and reports health with the Bearer token', async () => {
    const { status, body } = await postExecute(server.url, { script: 'print("with token")' }, { Authorization: `Bearer ${TOKEN}` });
    expect(status).toBe(200);
    expect(body.stdout).toBe('with token\n');
    const health = await fetch(`${server.url}/healthz`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    expect(health.status).toBe(200);
  });

  it('serves the playground, which asks for the token', async () => {
    const page = await fetch(`${server.url}/`);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('data-token-required="true"');
    expect(html).not.toContain(TOKEN);
  });

  describe('the Lambda Invoke API, which runs code too, requires the token of every caller, loopback peers included', () => {
    const invokePath = '/2015-03-31/functions/workflow-python-executor/invocations';
    const invokeWith = (accessKeyId: string): Promise<unknown> => {
      const client = new LambdaClient({ endpoint: server.url, region: 'us-east-1', credentials: { accessKeyId, secretAccessKey: 'local' }, maxAttempts: 1 });
      return client.send(new InvokeCommand({ FunctionName: 'workflow-python-executor', Payload: Buffer.from('{"script": "print(6 * 7)"}') }));
    };

    it('refuses an unsigned invoke with 403 AccessDeniedException', async () => {
      const response = await fetch(`${server.url}${invokePath}`, { method: 'POST', body: '{"script": "print(1)"}' });
      expect(response.status).toBe(403);
      expect(response.headers.get('x-amzn-errortype')).toBe('AccessDeniedException');
      expect(await response.json()).toEqual({
        Type: 'User',
        message: 'This server requires LOCAL_TOKEN: sign with AWS_ACCESS_KEY_ID set to the token, or send Authorization: Bearer <token>.',
      });
    });

    it('refuses an invoke signed with AWS_ACCESS_KEY_ID=local', async () => {
      await expect(invokeWith('local')).rejects.toMatchObject({ name: 'AccessDeniedException', $metadata: { httpStatusCode: 403 } });
    });

    it('runs an invoke signed with the token as the access key id, or sent with the Bearer token', async () => {
      const signed = (await invokeWith(TOKEN)) as { StatusCode?: number; Payload?: Uint8Array };
      expect(signed.StatusCode).toBe(200);
      expect(JSON.parse(Buffer.from(signed.Payload!).toString('utf8'))).toMatchObject({ ok: true, stdout: '42\n' });
      const bearer = await fetch(`${server.url}${invokePath}`, { method: 'POST', headers: { Authorization: `Bearer ${TOKEN}` }, body: '{"script": "print(1)"}' });
      expect(bearer.status).toBe(200);
      expect(await bearer.json()).toMatchObject({ ok: true, stdout: '1\n' });
    });
  });
});
