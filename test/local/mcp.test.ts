/**
 * POST /mcp end to end: the MCP SDK's own client (StreamableHTTPClientTransport)
 * against the real local server, whose invoker handler serves the endpoint
 * exactly as the deployed invoker does, with LOCAL_TOKEN standing in for the
 * API's authentication.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { executeRequestSchema } from '../../contract';
import { startServer, type RunningServer } from './server-process';

const TOKEN = 'mcp-test-token-0123456789';
let server: RunningServer;

beforeAll(async () => {
  server = await startServer({ env: { LOCAL_TOKEN: TOKEN, SANDBOX_CONCURRENCY: '1' } });
});

afterAll(async () => {
  await server?.stop();
});

async function connect(headers: Record<string, string> = { Authorization: `Bearer ${TOKEN}` }): Promise<Client> {
  const client = new Client({ name: 'mcp-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), { requestInit: { headers } }));
  return client;
}

function texts(result: CallToolResult): string[] {
  return result.content.filter((block) => block.type === 'text').map((block) => (block as { text: string }).text);
}

describe('POST /mcp on the local server', () => {
  let client: Client;

  beforeAll(async () => {
    client = await connect();
  });

  afterAll(async () => {
    await client?.close();
  });

  it('introduces itself as a stateless server with tools and no session id', async () => {
    expect(client.getServerVersion()).toMatchObject({ name: 'secure-python-executor' });
    expect(client.getServerCapabilities()).toMatchObject({ tools: {} });
    const initialize = await fetch(`${server.url}/mcp`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'curl', version: '1' } } }),
    });
    expect(initialize.status).toBe(200);
    expect(initialize.headers.get('content-type')).toMatch(/^application\/json/);
    expect(initialize.headers.get('mcp-session-id')).toBeNull();
    expect(await initialize.json()).toMatchObject({ jsonrpc: '2.0', id: 1, result: { serverInfo: { name: 'secure-python-executor' } } });
  });

  it('lists run_python with the contract\'s request schema and describe_sandbox', async () => {
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name)).toEqual(['run_python', 'describe_sandbox']);
    const { examples: _examples, ...schema } = executeRequestSchema();
    expect(tools[0]!.inputSchema).toEqual(schema);
  });

  it('runs a script with input and returns its result as text and as structured content', async () => {
    const result = (await client.callTool({ name: 'run_python', arguments: { script: 'def main(x):\n    print("doubling")\n    return x * 2', input: 21 } })) as CallToolResult;
    expect(result.isError).toBe(false);
    expect(texts(result)).toEqual(['result:\n42', 'stdout:\ndoubling\n']);
    expect(result.structuredContent).toMatchObject({ ok: true, result: 42, errorType: null });
  });

  it('returns a script failure as a tool error with errorType, sentence and traceback', async () => {
    const result = (await client.callTool({ name: 'run_python', arguments: { script: 'def main():\n    return 1 / 0' } })) as CallToolResult;
    expect(result.isError).toBe(true);
    expect(texts(result)[0]).toMatch(/^error \(ScriptError\): ZeroDivisionError: division by zero\nTraceback[\s\S]*File "<script>", line 2, in main/);
    expect(result.structuredContent).toMatchObject({ ok: false, errorType: 'ScriptError' });
    expect((result.structuredContent as { requestId: string }).requestId).toMatch(/\S/);
  });

  it('stops a script at its timeoutMs', async () => {
    const result = (await client.callTool({ name: 'run_python', arguments: { script: 'while True: pass', timeoutMs: 300 } })) as CallToolResult;
    expect(result.isError).toBe(true);
    expect(result.structuredContent).toMatchObject({ errorType: 'Timeout' });
  });

  it('refuses invalid arguments with the contract\'s sentence, without running anything', async () => {
    const result = (await client.callTool({ name: 'run_python', arguments: { script: 'print(1)', timeoutMs: 5 } })) as CallToolResult;
    expect(result).toEqual({ isError: true, content: [{ type: 'text', text: "InvalidRequest: 'timeoutMs' must be between 100 and 25000 milliseconds" }] });
  });

  it('returns an open matplotlib figure as PNG image content next to its artifact URL', async () => {
    const script = 'import matplotlib.pyplot as plt\n\ndef main():\n    plt.plot([1, 4, 9])\n    return "plotted"';
    const result = (await client.callTool({ name: 'run_python', arguments: { script } })) as CallToolResult;
    expect(result.isError).toBe(false);
    const images = result.content.filter((block) => block.type === 'image') as { data: string; mimeType: string }[];
    expect(images).toHaveLength(1);
    expect(images[0]!.mimeType).toBe('image/png');
    expect(Buffer.from(images[0]!.data, 'base64').subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect(texts(result).find((block) => block.startsWith('artifacts:'))).toMatch(/figure-1\.png \(image\/png, \d+ bytes\): http:\/\/127\.0\.0\.1:\d+\/artifacts\//);
  });

  it('describes the sandbox as GET /healthz reports it', async () => {
    const result = (await client.callTool({ name: 'describe_sandbox', arguments: {} })) as CallToolResult;
    const health = (await (await fetch(`${server.url}/healthz`, { headers: { Authorization: `Bearer ${TOKEN}` } })).json()) as { executor: Record<string, unknown> };
    expect(result.isError).toBeFalsy();
    const summary = JSON.parse(texts(result)[0]!) as Record<string, unknown>;
    expect(summary).toEqual({
      python: health.executor.python,
      preloads: health.executor.preloads,
      isolationLayers: health.executor.layers,
      limits: health.executor.limits,
    });
  });

  it('refuses a caller without the token, as the HTTP API does', async () => {
    await expect(connect({})).rejects.toThrow(/"errorType":"Unauthorized"/);
  });

  it("answers GET /mcp with the contract's 405, since a stateless server has no stream to offer", async () => {
    const response = await fetch(`${server.url}/mcp`, { headers: { Authorization: `Bearer ${TOKEN}`, Accept: 'text/event-stream' } });
    expect(response.status).toBe(405);
    // The local server enables CORS for its playground's origin, hence OPTIONS.
    expect(response.headers.get('allow')).toBe('POST, OPTIONS');
    expect(await response.json()).toMatchObject({ ok: false, errorType: 'MethodNotAllowed' });
  });

  it('checks X-Tenant-Id on MCP calls as on /execute', async () => {
    await expect(connect({ Authorization: `Bearer ${TOKEN}`, 'X-Tenant-Id': 'not valid!' })).rejects.toThrow(
      /Header 'X-Tenant-Id' may contain only letters/,
    );
    const tenantClient = await connect({ Authorization: `Bearer ${TOKEN}`, 'X-Tenant-Id': 'customer-42' });
    const result = (await tenantClient.callTool({ name: 'run_python', arguments: { script: 'print(6 * 7)' } })) as CallToolResult;
    await tenantClient.close();
    expect(texts(result)).toContain('stdout:\n42\n');
  });
});
