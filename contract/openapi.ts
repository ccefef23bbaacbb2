import { DEFAULT_LIMITS, type ContractLimits } from './limit-specs';
import { ALLOWED_FIELDS } from './messages';
import { STATUS_BY_ERROR_TYPE, STATUS_OK } from './status';
import { MAX_TENANT_HEADER_CHARS, TENANT_HEADER } from './tenant';
import { ERROR_TYPES, RESPONSE_KEYS, type ErrorType } from './types';
import { PYTHON_WHITESPACE_CLASS } from './validate';

/**
 * The API's OpenAPI 3.1 description, built from the contract's own constants
 * (error types, status mapping, limits, header rules) so that it cannot say
 * something the code does not do. `scripts/generate-openapi.ts` writes it to
 * contract/openapi.json with the default limits; a test keeps the committed
 * file equal to this function's output, and the local server serves it with
 * its own limits at GET /openapi.json.
 */

type Schema = Record<string, unknown>;

export const OPENAPI_PATH = '/openapi.json';
export const MCP_PATH = '/mcp';

/** Statuses only the local server answers (its token check and its body deadline), never the deployed API. */
const LOCAL_ONLY_STATUSES: Readonly<Record<number, string>> = {
  401: 'Local server with LOCAL_TOKEN only: the `Authorization: Bearer <token>` header is missing or wrong.',
  408: 'Local server only: the request body did not arrive within BODY_TIMEOUT_MS.',
};

const STATUS_MEANINGS: Readonly<Record<number, string>> = {
  400: 'The request is invalid (JSON, UTF-8, types, missing or empty script, timeoutMs out of range, unknown field, nesting, X-Tenant-Id).',
  403: 'API Gateway refused the caller (not signed, bad signature, no execute-api:Invoke, missing or invalid x-api-key); locally, a cross-site request or a Host that is not loopback.',
  404: 'No such route.',
  405: 'Wrong method for the route; the Allow header names the right one.',
  413: 'The body or the script is too large.',
  415: 'Content-Type is not application/json.',
  422: "The script failed: it raised, timed out, ran out of memory or output, returned something that is not JSON, or tried something the sandbox refuses. A script's failure is never a 5xx.",
  429: 'Too many executions at once, or the API key quota is used up; retry with backoff.',
  500: 'A fault of the service itself; retry and report the requestId.',
  503: 'The executor cannot be reached or has no capacity right now, or the local server is still starting.',
  504: 'The executor ran past its Lambda timeout, or API Gateway\'s integration timeout passed.',
};

/** errorTypes grouped by their HTTP status, in the order of ERROR_TYPES. */
export function errorTypesByStatus(): Map<number, ErrorType[]> {
  const byStatus = new Map<number, ErrorType[]>();
  for (const errorType of ERROR_TYPES) {
    const status = STATUS_BY_ERROR_TYPE[errorType];
    byStatus.set(status, [...(byStatus.get(status) ?? []), errorType]);
  }
  return byStatus;
}

/**
 * The request body as JSON Schema 2020-12. JSON Schema counts characters, not
 * UTF-8 bytes, and cannot measure nesting depth or the encoded size, so those
 * limits are stated in the descriptions and enforced by the service.
 */
export function executeRequestSchema(limits: ContractLimits = DEFAULT_LIMITS): Schema {
  return {
    type: 'object',
    required: ['script'],
    additionalProperties: false,
    properties: {
      script: {
        type: 'string',
        description:
          `Python source, run as a module. If it defines a callable \`main\`, that is called (\`main()\` or \`main(input)\`) and its return value is the result. ` +
          `Not empty after trimming whitespace; at most ${limits.maxScriptBytes} bytes of UTF-8.`,
        pattern: `[^${PYTHON_WHITESPACE_CLASS}]`,
        maxLength: limits.maxScriptBytes,
      },
      input: {
        description: 'Any JSON value; passed to `main(input)` when `main` takes one argument.',
      },
      timeoutMs: {
        type: 'integer',
        description: `Wall-clock limit for the script in milliseconds (default ${limits.defaultTimeoutMs}).`,
        minimum: limits.minTimeoutMs,
        maximum: limits.maxTimeoutMs,
        default: limits.defaultTimeoutMs,
      },
    },
    description:
      `The whole body is at most ${limits.maxRequestBytes} bytes as compact JSON and nested at most ${limits.maxNestingDepth} levels deep ` +
      `(the request object is level 1). Fields other than ${ALLOWED_FIELDS.map((field) => `'${field}'`).join(', ')} are rejected.`,
    examples: [{ script: 'def main(input):\n    return input * 2', input: 21, timeoutMs: 5000 }],
  };
}

function executeResponseSchema(): Schema {
  const nullable = (schema: Schema): Schema => ({ anyOf: [schema, { type: 'null' }] });
  return {
    type: 'object',
    description: 'Every key is always present.',
    required: [...RESPONSE_KEYS],
    properties: {
      ok: { type: 'boolean', description: 'True only when the script completed and its result was encoded.' },
      result: { description: 'The JSON value `main()` returned, or null.' },
      stdout: { type: 'string', description: 'Captured stdout, capped, ANSI escapes removed.' },
      stderr: { type: 'string', description: 'Captured stderr, capped, ANSI escapes removed.' },
      truncated: {
        type: 'object',
        required: ['stdout', 'stderr', 'artifacts'],
        additionalProperties: false,
        description: 'Which stream was cut at its cap; artifacts: outputs/ held more files than maxArtifacts, and the first ones were returned.',
        properties: { stdout: { type: 'boolean' }, stderr: { type: 'boolean' }, artifacts: { type: 'boolean' } },
      },
      error: { ...nullable({ type: 'string' }), description: 'One sentence saying what went wrong, or null.' },
      errorType: { anyOf: [{ $ref: '#/components/schemas/ErrorType' }, { $ref: '#/components/schemas/LocalErrorType' }, { type: 'null' }] },
      traceback: { ...nullable({ type: 'string' }), description: 'The script\'s own frames only (`File "<script>", line N`), or null.' },
      artifacts: { type: 'array', items: { $ref: '#/components/schemas/Artifact' } },
      durationMs: { type: 'number', minimum: 0, description: 'Time the script ran inside the worker.' },
      requestId: { type: 'string', description: 'The id of this execution in the logs.' },
    },
  };
}

function artifactSchema(limits: ContractLimits): Schema {
  return {
    type: 'object',
    required: ['name', 'contentType', 'size', 'url'],
    properties: {
      name: { type: 'string', description: 'Path under `outputs/`, sub-folders kept.' },
      contentType: { type: 'string' },
      size: { type: 'integer', minimum: 0, maximum: limits.maxArtifactBytes },
      url: {
        anyOf: [{ type: 'string', format: 'uri' }, { type: 'null' }],
        description: 'A presigned S3 GET URL (15 minutes) in the cloud, `<server>/artifacts/<requestId>/<name>` locally.',
      },
    },
    description: `At most ${limits.maxArtifacts} artifacts of at most ${limits.maxArtifactBytes} bytes each.`,
  };
}

/** The response of one status: the response schema narrowed to that status's errorTypes. */
function statusSchema(errorTypes: readonly string[] | null): Schema {
  if (errorTypes === null) {
    return { allOf: [{ $ref: '#/components/schemas/ExecuteResponse' }, { properties: { ok: { const: true }, errorType: { type: 'null' } } }] };
  }
  return {
    allOf: [
      { $ref: '#/components/schemas/ExecuteResponse' },
      { properties: { ok: { const: false }, error: { type: 'string' }, errorType: { enum: [...errorTypes] } } },
    ],
  };
}

function jsonContent(schema: Schema): Schema {
  return { 'application/json': { schema } };
}

const JSON_RPC = { $ref: '#/components/schemas/JsonRpcMessage' };

const REQUEST_ID_HEADER = {
  'X-Request-Id': { description: 'The requestId of the answer, also in the logs.', schema: { type: 'string' } },
};

/** The local server's own refusals (cross-site request, non-loopback Host) carry an errorType of their own. */
const LOCAL_ERROR_TYPES: Readonly<Record<number, readonly string[]>> = { 403: ['Forbidden'] };

function errorResponses(statuses: readonly number[]): Schema {
  const byStatus = errorTypesByStatus();
  const responses: Schema = {};
  for (const status of statuses) {
    const errorTypes = [...(byStatus.get(status) ?? []), ...(LOCAL_ERROR_TYPES[status] ?? [])];
    const meaning = LOCAL_ONLY_STATUSES[status] ?? STATUS_MEANINGS[status] ?? '';
    responses[String(status)] = {
      description: `${meaning} errorType: ${errorTypes.join(', ')}.`,
      headers: REQUEST_ID_HEADER,
      content: jsonContent(statusSchema(errorTypes)),
    };
  }
  return responses;
}

/** Every error status of the contract's mapping, ascending. */
export function contractErrorStatuses(): number[] {
  return [...new Set(Object.values(STATUS_BY_ERROR_TYPE))].sort((a, b) => a - b);
}

const TENANT_PARAMETER = {
  name: TENANT_HEADER,
  in: 'header',
  required: false,
  description:
    'Separates your own end users into tenants of their own under your caller identity: each tenant\'s executions run only in execution environments created for it.',
  schema: { type: 'string', minLength: 1, maxLength: MAX_TENANT_HEADER_CHARS, pattern: '^[A-Za-z0-9._-]+$' },
};

const SECURITY_SCHEMES = {
  sigv4: {
    type: 'apiKey',
    name: 'Authorization',
    in: 'header',
    description:
      'Deployed with authMode=iam (the default): sign with AWS Signature Version 4 for the service `execute-api` in the API\'s region (headers Authorization, X-Amz-Date, X-Amz-Security-Token for temporary credentials). The caller needs execute-api:Invoke on the API.',
    'x-amazon-apigateway-authtype': 'awsSigv4',
  },
  apiKey: {
    type: 'apiKey',
    name: 'x-api-key',
    in: 'header',
    description: 'Deployed with authMode=apiKey: the API key of the deployment (aws apigateway get-api-key --include-value).',
  },
  localBearer: {
    type: 'http',
    scheme: 'bearer',
    description: 'Local server started with LOCAL_TOKEN: `Authorization: Bearer <token>`. Without LOCAL_TOKEN the local server on loopback needs no credentials.',
  },
};

export interface OpenApiOptions {
  readonly limits?: ContractLimits;
  /** Servers to list first, e.g. the local server describing itself. */
  readonly servers?: readonly { readonly url: string; readonly description: string }[];
  readonly version?: string;
}

export const DEFAULT_SERVERS = [
  {
    url: 'https://{apiId}.execute-api.{region}.amazonaws.com/v1',
    description: 'The deployed API (stack output ApiUrl)',
    variables: { apiId: { default: 'your-api-id' }, region: { default: 'us-east-1' } },
  },
  { url: 'http://127.0.0.1:3000', description: 'The local server (npm start)' },
];

export function buildOpenApiDocument(options: OpenApiOptions = {}): Schema {
  const limits = options.limits ?? DEFAULT_LIMITS;
  const security = [{ sigv4: [] }, { apiKey: [] }, { localBearer: [] }, {}];
  return {
    openapi: '3.1.0',
    info: {
      title: 'secure-python-executor',
      version: options.version ?? '0.1.0',
      summary: 'Run untrusted Python in an isolated sandbox and get its result as JSON.',
      description:
        'POST /execute runs a script; GET /healthz reports the sandbox; POST /mcp is the same service as a stateless Model Context Protocol server. ' +
        'Every answer of /execute has the same JSON shape with every key, whatever the status.',
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    servers: options.servers ?? DEFAULT_SERVERS,
    security,
    paths: {
      '/execute': {
        post: {
          operationId: 'execute',
          summary: 'Run a Python script',
          parameters: [TENANT_PARAMETER],
          requestBody: { required: true, content: jsonContent({ $ref: '#/components/schemas/ExecuteRequest' }) },
          responses: {
            [String(STATUS_OK)]: {
              description: 'The script completed.',
              headers: REQUEST_ID_HEADER,
              content: jsonContent(statusSchema(null)),
            },
            ...errorResponses(contractErrorStatuses()),
            '401': localAuthResponse(),
            '408': {
              description: `${LOCAL_ONLY_STATUSES[408]} errorType: InvalidRequest.`,
              content: jsonContent(statusSchema(['InvalidRequest'])),
            },
          },
        },
      },
      '/healthz': {
        get: {
          operationId: 'health',
          summary: "The executor's Python, preloads, isolation layers and limits",
          parameters: [TENANT_PARAMETER],
          responses: {
            '200': { description: 'The executor answered its health check.', headers: REQUEST_ID_HEADER, content: jsonContent({ $ref: '#/components/schemas/Health' }) },
            '503': { description: 'The executor did not answer its health check.', headers: REQUEST_ID_HEADER, content: jsonContent({ $ref: '#/components/schemas/Health' }) },
            '401': localAuthResponse(),
            ...errorResponses([400, 403, 429, 500]),
          },
        },
      },
      [MCP_PATH]: {
        post: {
          operationId: 'mcp',
          summary: 'Model Context Protocol (streamable HTTP, stateless, JSON responses)',
          description:
            'One JSON-RPC message per request, as the MCP streamable HTTP transport sends it (Accept: application/json, text/event-stream). ' +
            'Tools: run_python (script, input, timeoutMs) and describe_sandbox. No sessions: every request stands alone.',
          parameters: [TENANT_PARAMETER],
          requestBody: { required: true, content: jsonContent(JSON_RPC) },
          responses: {
            '200': { description: "The JSON-RPC response; a tool's own failure is a result with isError, not an HTTP error.", content: jsonContent(JSON_RPC) },
            '202': { description: 'A notification or response was accepted; no body.' },
            '400': {
              description: 'An invalid X-Tenant-Id header (the contract\'s answer, errorType InvalidRequest), or a body that is not a JSON-RPC message (a JSON-RPC error).',
              content: jsonContent({ anyOf: [statusSchema(['InvalidRequest']), JSON_RPC] }),
            },
            '401': localAuthResponse(),
            ...errorResponses([403, 413, 429, 500, 503, 504]),
            '406': { description: 'The Accept header does not allow both application/json and text/event-stream (a JSON-RPC error).', content: jsonContent(JSON_RPC) },
            '415': { description: 'Content-Type is not application/json (a JSON-RPC error).', content: jsonContent(JSON_RPC) },
          },
        },
      },
      [OPENAPI_PATH]: {
        get: {
          operationId: 'openapi',
          summary: 'This description (local server only; public, like the playground, even with LOCAL_TOKEN)',
          security: [],
          responses: { '200': { description: 'The OpenAPI document with the server\'s own limits.', content: jsonContent({ type: 'object' }) } },
        },
      },
    },
    components: {
      securitySchemes: SECURITY_SCHEMES,
      schemas: {
        ExecuteRequest: executeRequestSchema(limits),
        ExecuteResponse: executeResponseSchema(),
        ErrorType: {
          type: 'string',
          enum: [...ERROR_TYPES],
          description: Object.entries(STATUS_BY_ERROR_TYPE)
            .map(([errorType, status]) => `${errorType}: HTTP ${status}`)
            .join('; '),
        },
        LocalErrorType: {
          type: 'string',
          enum: [...new Set(Object.values(LOCAL_ERROR_TYPES).flat()), 'Unauthorized'],
          description: 'Local server only: its own refusals before the API (Unauthorized: HTTP 401, LOCAL_TOKEN missing or wrong; Forbidden: HTTP 403, a cross-site request or a Host that is not loopback).',
        },
        Artifact: artifactSchema(limits),
        LocalAccessError: {
          description: "The local server's own refusal (LOCAL_TOKEN missing or wrong): the response shape, with errorType Unauthorized.",
          allOf: [
            { $ref: '#/components/schemas/ExecuteResponse' },
            { properties: { ok: { const: false }, errorType: { const: 'Unauthorized' } } },
          ],
        },
        Health: {
          type: 'object',
          required: ['status', 'executor', 'requestId'],
          properties: {
            status: { enum: ['ok', 'degraded'] },
            executor: {
              anyOf: [
                {
                  type: 'object',
                  properties: {
                    python: { type: 'string' },
                    preloads: { type: 'object', additionalProperties: { type: 'object', required: ['loaded'], properties: { loaded: { type: 'boolean' } } } },
                    layers: {
                      type: 'object',
                      additionalProperties: { type: 'object', required: ['active'], properties: { active: { type: 'boolean' }, detail: { type: 'string' } } },
                    },
                    limits: { type: 'object' },
                    initMs: { type: 'number' },
                  },
                },
                { type: 'null' },
              ],
            },
            invoker: { type: 'object' },
            error: { type: 'string' },
            errorType: { $ref: '#/components/schemas/ErrorType' },
            requestId: { type: 'string' },
          },
        },
        JsonRpcMessage: {
          type: 'object',
          required: ['jsonrpc'],
          properties: { jsonrpc: { const: '2.0' }, id: { type: ['string', 'integer', 'null'] }, method: { type: 'string' }, params: { type: 'object' }, result: {}, error: { type: 'object' } },
        },
      },
    },
  };
}

function localAuthResponse(): Schema {
  return {
    description: LOCAL_ONLY_STATUSES[401],
    content: jsonContent({ $ref: '#/components/schemas/LocalAccessError' }),
  };
}
