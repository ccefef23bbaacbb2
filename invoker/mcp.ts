import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { CallToolRequestSchema, ListToolsRequestSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import {
  executeRequestSchema,
  ExecutorError,
  messages,
  RequestError,
  statusForErrorType,
  validateRequest,
  type ContractLimits,
  type ExecuteResponse,
  type JsonValue,
} from '../contract';

/**
 * POST /mcp: the service as a Model Context Protocol server over streamable
 * HTTP, stateless (no session ids) and answering in JSON rather than SSE,
 * because a Lambda invocation is one request and one response. A server and
 * a transport live for one HTTP request; authentication and the tenant are
 * API Gateway's and the invoker's, exactly as for POST /execute.
 *
 * The low-level `Server` is used rather than `McpServer` on purpose: the tool's
 * input schema is the contract's JSON Schema (the one contract/openapi.json
 * publishes), and arguments get the contract's validation sentences, where
 * `McpServer` would want zod shapes and answer with zod's messages.
 */

const MCP_SERVER_NAME = 'secure-python-executor';

/** What the tools need from the invoker: one execution, and the health report. */
export interface McpBackend {
  readonly limits: ContractLimits;
  /** Runs a validated request (its JSON text); `callIndex` counts tool calls within this HTTP request from 1. */
  run(requestText: string, timeoutMs: number | undefined, callIndex: number): Promise<ExecuteResponse>;
  /** The PNG bytes of an artifact of `response`, or undefined when they cannot be had. */
  imageBytes(response: ExecuteResponse, artifactIndex: number): Promise<Buffer | undefined>;
  health(): Promise<{ readonly status: number; readonly body: unknown }>;
}

interface McpReply {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** Images ride inside the JSON answer, which Lambda caps at 6 MB: base64 of at most this many bytes in all. */
export const MAX_IMAGE_BYTES_PER_CALL = 3 * 1024 * 1024;

const RUN_PYTHON_DESCRIPTION =
  'Runs a Python script in an isolated sandbox (no network, no secrets, resource limits) and returns its result. ' +
  'If the script defines main() or main(input), its return value is the result (JSON); otherwise it runs for its output. ' +
  'numpy, pandas and matplotlib are available where the sandbox reports them (describe_sandbox); ' +
  'files written under ./outputs/ come back as artifacts, and open matplotlib figures as PNG images.';

function toolDefinitions(limits: ContractLimits): unknown[] {
  const { examples: _examples, ...inputSchema } = executeRequestSchema(limits);
  return [
    {
      name: 'run_python',
      title: 'Run Python',
      description: RUN_PYTHON_DESCRIPTION,
      inputSchema,
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    },
    {
      name: 'describe_sandbox',
      title: 'Describe the sandbox',
      description: "The sandbox's Python version, which preloaded modules (numpy, pandas, matplotlib) are available, its isolation layers and its limits.",
      inputSchema: { type: 'object', properties: {}, additionalProperties: false },
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
  ];
}

function text(value: string): { type: 'text'; text: string } {
  return { type: 'text', text: value };
}

function toolError(message: string): CallToolResult {
  return { isError: true, content: [text(message)] };
}

/** The response as an agent reads it: labelled text blocks, PNG artifacts as images, the whole response as structured content. */
async function runPythonResult(response: ExecuteResponse, backend: McpBackend): Promise<CallToolResult> {
  const content: CallToolResult['content'] = [];
  if (response.ok) {
    content.push(text(`result:\n${JSON.stringify(response.result, null, 2)}`));
  } else {
    const traceback = response.traceback === null ? '' : `\n${response.traceback}`;
    content.push(text(`error (${response.errorType ?? 'InternalError'}): ${response.error ?? ''}${traceback}`));
  }
  if (response.stdout !== '') content.push(text(`stdout${response.truncated.stdout ? ' (truncated)' : ''}:\n${response.stdout}`));
  if (response.stderr !== '') content.push(text(`stderr${response.truncated.stderr ? ' (truncated)' : ''}:\n${response.stderr}`));
  if (response.artifacts.length > 0) {
    const lines = response.artifacts.map((artifact) => `- ${artifact.name} (${artifact.contentType}, ${artifact.size} bytes)${artifact.url === null ? '' : `: ${artifact.url}`}`);
    const more = response.truncated.artifacts ? '\n(more files were written; only these were returned)' : '';
    content.push(text(`artifacts:\n${lines.join('\n')}${more}`));
  }
  let imageBytes = 0;
  for (const [index, artifact] of response.artifacts.entries()) {
    if (artifact.contentType !== 'image/png' || imageBytes + artifact.size > MAX_IMAGE_BYTES_PER_CALL) continue;
    const bytes = await backend.imageBytes(response, index);
    if (bytes === undefined) continue;
    imageBytes += bytes.length;
    content.push({ type: 'image', mimeType: 'image/png', data: bytes.toString('base64') });
  }
  // Inline artifact bytes (no store configured) would double the answer; the images above carry what an agent can use.
  const structured = { ...response, artifacts: response.artifacts.map(({ contentBase64: _bytes, ...artifact }) => artifact) };
  return { isError: !response.ok, content, structuredContent: structured as unknown as Record<string, unknown> };
}

async function describeSandbox(backend: McpBackend): Promise<CallToolResult> {
  const { status, body } = await backend.health();
  const report = (body ?? {}) as { executor?: Record<string, JsonValue> | null; error?: string; errorType?: string };
  if (status !== 200 || report.executor === null || report.executor === undefined) {
    return toolError(`The sandbox did not answer its health check (${report.errorType ?? status}): ${report.error ?? 'no detail'}`);
  }
  const { python, preloads, layers, limits } = report.executor;
  const summary = { python, preloads, isolationLayers: layers, limits };
  return { content: [text(JSON.stringify(summary, null, 2))], structuredContent: summary as Record<string, unknown> };
}

function buildServer(backend: McpBackend): Server {
  const server = new Server(
    { name: MCP_SERVER_NAME, version: '0.1.0' },
    {
      capabilities: { tools: {} },
      instructions: 'run_python executes Python in an isolated sandbox and returns result, stdout, stderr and artifacts; describe_sandbox says what it offers.',
    },
  );
  let calls = 0;
  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: toolDefinitions(backend.limits) as never }));
  server.setRequestHandler(CallToolRequestSchema, async (request): Promise<CallToolResult> => {
    const { name } = request.params;
    const args = request.params.arguments ?? {};
    if (name === 'describe_sandbox') return describeSandbox(backend);
    if (name !== 'run_python') return toolError(`Unknown tool '${name}'; the tools are run_python and describe_sandbox.`);
    const validated = validateRequest(args, backend.limits);
    if (!validated.ok) return toolError(`${validated.errorType}: ${validated.error}`);
    calls += 1;
    try {
      return await runPythonResult(await backend.run(JSON.stringify(validated.request), validated.request.timeoutMs, calls), backend);
    } catch (error) {
      if (error instanceof ExecutorError || error instanceof RequestError) return toolError(`${error.errorType}: ${error.message}`);
      throw error;
    }
  });
  return server;
}

/** The Web request the SDK's transport reads, from the API Gateway event (the body already decoded and size-checked). */
function webRequest(event: APIGatewayProxyEvent, body: string): Request {
  const headers = new Headers();
  for (const [name, value] of Object.entries(event.headers ?? {})) {
    if (value !== undefined) headers.set(name, value);
  }
  return new Request('http://mcp.invalid/mcp', { method: 'POST', headers, body });
}

/**
 * Answers one MCP HTTP request. Malformed JSON-RPC gets the transport's own
 * JSON-RPC error; a body over the contract's request limit is refused first.
 */
export async function handleMcpRequest(event: APIGatewayProxyEvent, backend: McpBackend): Promise<McpReply> {
  const body = event.isBase64Encoded ? Buffer.from(event.body ?? '', 'base64').toString('utf8') : (event.body ?? '');
  if (Buffer.byteLength(body, 'utf8') > backend.limits.maxRequestBytes) {
    throw new RequestError(statusForErrorType('RequestTooLarge'), 'RequestTooLarge', messages.bodyTooLarge(backend.limits.maxRequestBytes));
  }
  const transport = new WebStandardStreamableHTTPServerTransport({
    sessionIdGenerator: undefined,
    enableJsonResponse: true,
    maxRequestBodySize: backend.limits.maxRequestBytes,
  });
  const server = buildServer(backend);
  try {
    await server.connect(transport);
    const response = await transport.handleRequest(webRequest(event, body));
    const headers: Record<string, string> = {};
    response.headers.forEach((value, name) => {
      headers[name] = value;
    });
    return { status: response.status, headers, body: await response.text() };
  } finally {
    await server.close();
  }
}
