import { randomUUID } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { LambdaClient } from '@aws-sdk/client-lambda';
import type { S3Client } from '@aws-sdk/client-s3';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import {
  type ConfigError,
  ExecutorError,
  RequestError,
  base64DecodedBytes,
  checkContentType,
  CORS_ALLOW_HEADERS,
  errorResponse,
  headerValue,
  matchRoute,
  messages,
  parseExecuteBody,
  statusForErrorType,
  statusForOutcome,
  type ErrorType,
  type ExecuteResponse,
  type JsonValue,
  MCP_PATH,
} from '../contract';
import { artifactBytes, resolveArtifacts, signArtifactUpload } from './artifacts';
import type { InvokerConfig } from './config';
import { invokeExecutor } from './executor-client';
import { handleMcpRequest, MAX_IMAGE_BYTES_PER_CALL, type McpBackend } from './mcp';
import { isDebugLogging, recordRequest, type Observability } from './observability';
import { encodeExecutorResponse, normalizeExecutorResponse } from './outcome';
import { assignTenant, type TenantAssignment } from './tenant';

/** API Gateway (REST, Lambda proxy) handler for POST /execute, GET /healthz and POST /mcp. */
export type InvokerHandler = (event: APIGatewayProxyEvent, context: Context | undefined) => Promise<APIGatewayProxyResult>;

/** The clients an invoker calls; built once per execution environment, so that connections are reused. */
export interface InvokerClients {
  /** Reaches the executor function (invoker/executor-client.ts `createLambdaClient`). */
  readonly lambda: LambdaClient;
  /** Signs artifact uploads and downloads; required when artifacts go to S3. */
  readonly s3?: S3Client;
}

/** What every step of a request reads: the configuration, the clients and the logger. */
interface Invoker {
  readonly config: InvokerConfig;
  readonly clients: InvokerClients;
  readonly logger: Logger;
}

const HEALTH_EVENT = JSON.stringify({ action: 'health' });

/** Request ids become S3 key prefixes and folder names: only a conservative alphabet is used as is. */
const SAFE_REQUEST_ID = /^[A-Za-z0-9][A-Za-z0-9-]{0,127}$/;

function requestIdOf(event: APIGatewayProxyEvent, context: Context | undefined): string {
  for (const candidate of [event.requestContext?.requestId, context?.awsRequestId]) {
    if (typeof candidate === 'string' && SAFE_REQUEST_ID.test(candidate)) return candidate;
  }
  return randomUUID();
}

/** The route path: API Gateway's resource when it names one, else the raw path (proxy resources, local server). */
function routePathOf(event: APIGatewayProxyEvent): string {
  const resource = event.resource;
  if (typeof resource === 'string' && resource !== '' && !resource.includes('{')) return resource;
  return event.path ?? '/';
}

function corsHeaders(allowed: readonly string[] | null, origin: string | undefined): Record<string, string> {
  if (!allowed) return {};
  if (allowed[0] === '*') return { 'Access-Control-Allow-Origin': '*' };
  // With a list, echo the caller's origin only when it is on it; Vary keeps caches from mixing answers.
  if (origin !== undefined && allowed.includes(origin)) {
    return { 'Access-Control-Allow-Origin': origin, Vary: 'Origin' };
  }
  return { Vary: 'Origin' };
}


interface Reply {
  readonly status: number;
  readonly body: ExecuteResponse | Record<string, JsonValue> | null;
  /** The body as sent, when it is not JSON.stringify(body): an execution's answer keeps the executor's own encoding. */
  readonly bodyText?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly errorType: ErrorType | null;
  readonly durationMs?: number;
  readonly artifacts?: number;
  readonly timeoutMs?: number;
  readonly fault?: Readonly<Record<string, string | number | undefined>>;
  readonly skippedArtifacts?: readonly string[];
  /** The effective tenant id, once the caller and the header were read. */
  readonly tenantId?: string;
}

/** An error as one bounded line for the log. */
function describe(error: unknown): string {
  return (error instanceof Error ? `${error.name}: ${error.message}` : String(error)).slice(0, 500);
}

function errorReply(errorType: ErrorType, error: string, requestId: string, headers: Record<string, string> = {}): Reply {
  return { status: statusForErrorType(errorType), body: errorResponse(errorType, error, requestId), headers, errorType };
}

async function execute(event: APIGatewayProxyEvent, invoker: Invoker, requestId: string, tenant: TenantAssignment): Promise<Reply> {
  checkContentType(headerValue(event.headers, 'content-type'));
  const parsed = parseExecuteBody({ body: event.body, isBase64Encoded: event.isBase64Encoded }, invoker.config.limits);
  return runExecution(invoker, requestId, tenant, parsed.text, parsed.request.timeoutMs);
}

/**
 * One execution of a validated request, from signing the artifact upload to
 * the caller's response: shared by POST /execute and the MCP tool run_python.
 * `requestText` is the request's JSON text, forwarded as is.
 */
async function runExecution(
  { config: cfg, clients: { lambda, s3 }, logger }: Invoker,
  requestId: string,
  tenant: TenantAssignment,
  requestText: string,
  requestedTimeoutMs: number | undefined,
): Promise<Reply & { readonly body: ExecuteResponse }> {
  const timeoutMs = requestedTimeoutMs ?? cfg.limits.defaultTimeoutMs;

  const invokerFields: Record<string, unknown> = { requestId };
  if (cfg.artifacts.kind === 's3' && s3) {
    try {
      invokerFields.artifactUpload = await signArtifactUpload(s3, cfg.artifacts.bucket, requestId, timeoutMs, cfg.limits.maxArtifactBytes);
    } catch (error) {
      throw new ExecutorError(statusForErrorType('InternalError'), 'InternalError', messages.internalFault, {
        problem: 'signing the artifact upload failed',
        cause: describe(error),
      });
    }
  }
  // Forward the caller's own JSON text with the invoker's fields spliced in
  // front, so that numbers and strings reach Python exactly as sent (a
  // re-serialised JS value would turn 1.0 into 1 and round big integers).
  const opening = requestText.indexOf('{');
  const executorEvent = `${JSON.stringify(invokerFields).slice(0, -1)},${requestText.slice(opening + 1)}`;

  const answer = await invokeExecutor(lambda, cfg, executorEvent, tenant.invokeTenantId, logger);
  const { response, rawArtifacts } = normalizeExecutorResponse(answer.payload, requestId);
  let skippedArtifacts: readonly string[] = [];
  try {
    const resolved = await resolveArtifacts(rawArtifacts, {
      destination: cfg.artifacts,
      requestId,
      maxArtifacts: cfg.limits.maxArtifacts,
      s3,
    });
    response.artifacts = resolved.artifacts;
    skippedArtifacts = resolved.skipped;
  } catch (error) {
    throw new ExecutorError(statusForErrorType('InternalError'), 'InternalError', messages.artifactsFailed, {
      problem: 'storing artifacts failed',
      cause: describe(error),
    });
  }
  return {
    status: statusForOutcome(response),
    body: response,
    bodyText: encodeExecutorResponse(response, answer.payload, answer.text),
    errorType: response.errorType,
    durationMs: response.durationMs,
    artifacts: response.artifacts.length,
    timeoutMs,
    skippedArtifacts: skippedArtifacts.length > 0 ? skippedArtifacts : undefined,
  };
}

async function health({ config: cfg, clients, logger }: Invoker, requestId: string, tenant: TenantAssignment): Promise<Reply> {
  const invoker = {
    mode: cfg.artifacts.kind === 's3' ? 'cloud' : cfg.artifacts.kind === 'local' ? 'local' : 'inline-artifacts',
    limits: { ...cfg.limits },
    // How long the invoker waits for the executor (in the cloud, just under the API's integration timeout).
    clientTimeoutMs: cfg.clientTimeoutMs,
  };
  try {
    const { payload } = await invokeExecutor(clients.lambda, cfg, HEALTH_EVENT, tenant.invokeTenantId, logger);
    const report = payload as { ok?: unknown; health?: unknown } | null;
    if (report === null || typeof report !== 'object' || report.ok !== true || report.health === null || typeof report.health !== 'object') {
      throw new ExecutorError(503, 'ServiceUnavailable', messages.executorInvalidResponse, { problem: 'health answer without ok and health' });
    }
    return {
      status: 200,
      body: { status: 'ok', executor: report.health as JsonValue, invoker, requestId },
      errorType: null,
    };
  } catch (error) {
    if (!(error instanceof ExecutorError)) throw error;
    return {
      status: 503,
      body: { status: 'degraded', executor: null, invoker, error: error.message, errorType: error.errorType, requestId },
      errorType: error.errorType,
      fault: { ...error.detail, reportedAs: error.errorType },
    };
  }
}

type ExecutionStats = Pick<Reply, 'errorType' | 'durationMs' | 'artifacts' | 'timeoutMs' | 'fault' | 'skippedArtifacts'>;

/**
 * POST /mcp: the same executions and health report as the HTTP API, as MCP
 * tools. Each tool call is one execution with its own requestId (the HTTP
 * request's id, suffixed from the second call on), so artifact prefixes never collide.
 * The request's log line and metrics carry the last execution's outcome,
 * and an executor fault's detail, which the tool error never shows.
 */
async function mcp(event: APIGatewayProxyEvent, invoker: Invoker, requestId: string, tenant: TenantAssignment): Promise<Reply> {
  let stats: ExecutionStats = { errorType: null };
  const backend: McpBackend = {
    limits: invoker.config.limits,
    run: async (requestText, timeoutMs, callIndex) => {
      try {
        const reply = await runExecution(invoker, callIndex === 1 ? requestId : `${requestId}-${callIndex}`, tenant, requestText, timeoutMs);
        const { errorType, durationMs, artifacts, skippedArtifacts } = reply;
        stats = { errorType, durationMs, artifacts, skippedArtifacts, timeoutMs: reply.timeoutMs };
        return reply.body;
      } catch (error) {
        if (error instanceof ExecutorError) stats = { errorType: error.errorType, fault: { ...error.detail, reportedAs: error.errorType } };
        throw error;
      }
    },
    imageBytes: (response, index) => artifactBytes(invoker.config.artifacts, response.requestId, response.artifacts[index]!, MAX_IMAGE_BYTES_PER_CALL),
    health: async () => {
      const reply = await health(invoker, requestId, tenant);
      return { status: reply.status, body: reply.body };
    },
  };
  const answer = await handleMcpRequest(event, backend);
  return { ...stats, status: answer.status, body: null, bodyText: answer.body, headers: answer.headers };
}

/** An invoker ready to run requests, or the configuration error that makes it answer each with a 500 instead. */
type Setup = Invoker | ConfigError;

async function route(event: APIGatewayProxyEvent, setup: Setup, requestId: string, routePath: string): Promise<Reply> {
  let tenant: TenantAssignment | undefined;
  try {
    const match = matchRoute(event.httpMethod ?? 'GET', routePath, Boolean(corsAllowOriginsOf(setup)));
    if (match.kind === 'preflight') {
      return {
        status: 204,
        body: null,
        errorType: null,
        headers: {
          'Access-Control-Allow-Methods': [...match.allowed, 'OPTIONS'].join(', '),
          'Access-Control-Allow-Headers': CORS_ALLOW_HEADERS.join(', '),
          'Access-Control-Max-Age': '600',
        },
      };
    }
    if (setup instanceof Error) return errorReply('InternalError', messages.invokerMisconfigured(setup.message), requestId);
    // Before the body: every invocation, the health check included, runs in the caller's own environments.
    tenant = assignTenant(event, setup.config);
    if (match.path === '/healthz') return { ...(await health(setup, requestId, tenant)), tenantId: tenant.tenantId };
    if (match.path === MCP_PATH) return { ...(await mcp(event, setup, requestId, tenant)), tenantId: tenant.tenantId };
    return { ...(await execute(event, setup, requestId, tenant)), tenantId: tenant.tenantId };
  } catch (error) {
    const tenantId = tenant?.tenantId;
    if (error instanceof RequestError) return { ...errorReply(error.errorType, error.message, requestId, { ...error.headers }), tenantId };
    if (error instanceof ExecutorError) {
      return { ...errorReply(error.errorType, error.message, requestId, { ...error.headers }), fault: { ...error.detail }, tenantId };
    }
    // Anything else is a bug of the invoker: log it with its stack, answer without it.
    const fault = { unexpected: describe(error), stack: error instanceof Error ? error.stack?.slice(0, 2000) : undefined };
    return { ...errorReply('InternalError', messages.internalFault, requestId), fault, tenantId };
  }
}

function corsAllowOriginsOf(setup: Setup): readonly string[] | null {
  return setup instanceof Error ? null : setup.config.corsAllowOrigins;
}

/**
 * The invoker as a handler: Lambda's (invoker/handler.ts) with clients for
 * AWS, and the local server's, in-process, with clients for its own endpoint.
 */
export function createInvoker(config: InvokerConfig, clients: InvokerClients, observability: Observability): InvokerHandler {
  if (config.artifacts.kind === 's3' && clients.s3 === undefined) {
    throw new Error('createInvoker needs an S3 client when artifacts go to S3 (ARTIFACT_BUCKET).');
  }
  return handlerFor({ config, clients, logger: observability.logger }, observability);
}

/**
 * The handler of an invoker whose configuration was refused. It does not
 * crash the init (that would surface as an opaque 502): it still routes, and
 * answers every API request with a 500 naming the variable.
 */
export function createMisconfiguredInvoker(error: ConfigError, observability: Observability): InvokerHandler {
  return handlerFor(error, observability);
}

function handlerFor(setup: Setup, observability: Observability): InvokerHandler {
  const { logger } = observability;
  const corsAllowOrigins = corsAllowOriginsOf(setup);
  return async (event, context) => {
    const startedAt = performance.now();
    if (context) logger.addContext(context);
    const requestId = requestIdOf(event, context);
    const routePath = routePathOf(event);

    const reply = await route(event, setup, requestId, routePath);

    const body = reply.bodyText ?? (reply.body === null ? '' : JSON.stringify(reply.body));
    const headers: Record<string, string> = {
      ...(reply.body === null ? {} : { 'Content-Type': 'application/json; charset=utf-8' }),
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
      'X-Request-Id': requestId,
      ...corsHeaders(corsAllowOrigins, headerValue(event.headers, 'origin')),
      ...reply.headers,
    };
    const requestBytes = event.body
      ? event.isBase64Encoded
        ? base64DecodedBytes(event.body)
        : Buffer.byteLength(event.body, 'utf8')
      : 0;

    recordRequest(
      observability,
      {
        requestId,
        tenantId: reply.tenantId ?? null,
        route: routePath.slice(0, 200),
        method: (event.httpMethod ?? '').toUpperCase(),
        status: reply.status,
        errorType: reply.errorType,
        durationMs: reply.durationMs ?? 0,
        totalMs: Math.round(performance.now() - startedAt),
        requestBytes,
        responseBytes: Buffer.byteLength(body, 'utf8'),
        artifacts: reply.artifacts ?? 0,
        timeoutMs: reply.timeoutMs,
        fault: reply.fault,
        skippedArtifacts: reply.skippedArtifacts,
      },
      isDebugLogging(logger) ? { requestBody: event.body, responseBody: body } : undefined,
    );

    return { statusCode: reply.status, headers, body };
  };
}
