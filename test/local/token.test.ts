/**
 * LOCAL_TOKEN end to end: the API refuses calls without the token, accepts
 * them with it, and the invoker inside the server still reaches the
 * executor; the playground page loads and asks for the token.
 */
import { postExecute, startServer, type RunningServer } from './server-process';

const TOKEN = 'local-test-token-0123456789';
let server: RunningServer;

beforeAll(async () => {
  server = await startServer({ env: { LOCAL_TOKEN: TOKEN, SANDBOX_CONCURRENCY: '1' } });
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
});
