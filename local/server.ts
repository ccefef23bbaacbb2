/**
 * The local server: one HTTP port that serves
 * - the HTTP API (`POST /execute`, `GET /healthz`, anything else the
 *   invoker's router answers) through the real invoker handler;
 * - the Lambda Invoke API for the executor function;
 * - artifacts under `/artifacts/`;
 * - the playground page;
 * and the pool of executor runtimes behind the Invoke API.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import {
  buildOpenApiDocument,
  DEFAULT_EXECUTOR_FUNCTION_NAME,
  errorResponse,
  LOCAL_REGION,
  messages,
  OPENAPI_PATH,
  SEAL_KEY_VARIABLE,
  SealKey,
  statusForErrorType,
} from '../contract';
import type { InvokerConfig } from '../invoker/config';
import { createLambdaClient } from '../invoker/executor-client';
import { createInvoker, type InvokerHandler } from '../invoker/invoker';
import { createObservability } from '../invoker/observability';
import { assignTenant } from '../invoker/tenant';
import { toProxyEvent, writeProxyResult } from './api-gateway';
import { LocalArtifactFolder } from './artifacts';
import { checkAccess } from './auth';
import type { LocalConfig } from './config';
import { answerMalformedRequests, finishEarly, readBody, sendJson, type MalformedRequest } from './http-util';
import { functionArn, handleInvoke, INVOKE_PATH_PREFIX, malformedInvokeAnswer } from './invoke-api';
import { bundlePlayground, type PlaygroundAssets } from './playground/bundle';
import { RuntimePool, type PoolHealth } from './runtime-pool';

/** The local server's own status route: runtime states without calling the executor. */
const LOCAL_STATUS_PATH = '/local/status';
const INVOKER_FUNCTION_NAME = 'workflow-python-invoker';

interface LocalServerOptions {
  readonly config: LocalConfig;
  readonly repoRoot: string;
  /** Absolute path of the Python interpreter (resolved from SANDBOX_PYTHON). */
  readonly pythonExecutable: string;
  /**
   * Running as root: the sandbox uids this server leased (uid-lease.ts), one
   * per runtime slot, so that no other server's runtimes use them.
   */
  readonly sandboxUids?: readonly number[];
  readonly log: (line: string) => void;
}

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** Address this process uses to reach its own listener. */
function selfHost(bindHost: string): string {
  if (bindHost === '0.0.0.0' || bindHost === 'localhost') return '127.0.0.1';
  if (bindHost === '::') return '[::1]';
  return hostForUrl(bindHost);
}

/** The minimal environment of a runtime process: never the server's own environment. */
function runtimeEnv(options: LocalServerOptions, slot: number, sealKey: string): Record<string, string> {
  const { config } = options;
  return {
    PATH: [dirname(options.pythonExecutable), '/usr/local/bin', '/usr/bin', '/bin'].join(':'),
    LANG: 'C.UTF-8',
    LC_ALL: 'C.UTF-8',
    TZ: 'UTC',
    PYTHONPATH: join(options.repoRoot, 'runtime-image'),
    PYTHONUNBUFFERED: '1',
    PYTHONDONTWRITEBYTECODE: '1',
    PYTHONNOUSERSITE: '1',
    MPLBACKEND: 'Agg',
    LAMBDA_TASK_ROOT: join(options.repoRoot, 'runtime-image'),
    AWS_REGION: LOCAL_REGION,
    AWS_DEFAULT_REGION: LOCAL_REGION,
    AWS_LAMBDA_FUNCTION_NAME: DEFAULT_EXECUTOR_FUNCTION_NAME,
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(config.functionMemoryMb),
    AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${DEFAULT_EXECUTOR_FUNCTION_NAME}`,
    AWS_LAMBDA_LOG_STREAM_NAME: `local/runtime-${slot}`,
    AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
    ...config.executorEnv,
    ...(config.runtimeDebugLogs ? { EXECUTOR_LOG_LEVEL: 'DEBUG' } : {}),
    [SEAL_KEY_VARIABLE]: sealKey,
  };
}

export class LocalServer {
  private readonly server: Server;
  private readonly tempRoot: string;
  private readonly artifacts: LocalArtifactFolder;
  private readonly pool: RuntimePool;
  /**
   * Shared by the invoker and every runtime, as in the cloud, so that
   * POST /execute is sealed end to end; new at each start, and never printed
   * or reported. The Invoke API stays plain for direct callers.
   */
  private readonly sealKey = randomBytes(32).toString('hex');
  private invoker: { readonly handler: InvokerHandler; readonly config: InvokerConfig } | undefined;
  private playground: PlaygroundAssets | undefined;
  private shuttingDown: Promise<void> | undefined;
  private inFlight = 0;
  private portValue = 0;
  /** The last health answer an executor gave through the invoker, for GET /healthz while no runtime is free. */
  private lastHealth: { readonly result: APIGatewayProxyResult; readonly atMs: number } | undefined;

  constructor(private readonly options: LocalServerOptions) {
    const { config } = options;
    this.tempRoot = mkdtempSync(join(tmpdir(), 'secure-python-executor-'));
    const artifactDir = join(this.tempRoot, 'artifacts');
    mkdirSync(artifactDir, { mode: 0o700 });
    this.artifacts = new LocalArtifactFolder(artifactDir, config.artifactRetentionMs);
    const runAsRoot = typeof process.getuid === 'function' && process.getuid() === 0;
    this.pool = new RuntimePool({
      size: config.sandboxConcurrency,
      queueLimit: config.queueLimit,
      queueWaitMs: config.queueWaitMs,
      functionArn: functionArn(DEFAULT_EXECUTOR_FUNCTION_NAME),
      tenancy: config.tenancy,
      logLine: options.log,
      environmentOptions: (slot, tenantId) => ({
        slot,
        command: options.pythonExecutable,
        args: runtimeArgs(options, slot),
        cwd: join(options.repoRoot, 'runtime-image'),
        env: runtimeEnv(options, slot, this.sealKey),
        tmpDir: join(this.tempRoot, `runtime-${slot}`),
        functionTimeoutMs: config.functionTimeoutS * 1000,
        // Lambda allows 10 s of init; importing numpy, pandas and matplotlib on a busy laptop can take longer.
        initTimeoutMs: Math.max(10000, config.functionTimeoutS * 1000),
        // Each runtime kills every leftover process of its sandbox uid, so uids must not be shared: they are
        // leased for this server alone. A slot's uid passes to another tenant's runtime only after the pool
        // stopped the old one and all it started.
        sandboxUid: runAsRoot ? sandboxUidOf(options, slot) : undefined,
        tenantId,
        logLine: config.runtimeLogs ? (line) => options.log(`[runtime-${slot}] ${line}`) : undefined,
      }),
    });
    this.server = createServer((req, res) => void this.route(req, res));
    this.server.headersTimeout = 10000;
    // Backstop behind the per-body deadline; executions themselves may take FUNCTION_TIMEOUT_S.
    this.server.requestTimeout = config.bodyTimeoutMs + 5000;
    this.server.keepAliveTimeout = 5000;
    answerMalformedRequests(this.server, (problem) =>
      isInvokePath(problem.target) ? malformedInvokeAnswer(problem) : { body: malformedApiAnswer(problem) },
    );
  }

  get port(): number {
    return this.portValue;
  }

  /** The URL users open (loopback when bound to all interfaces). */
  get url(): string {
    return `http://${selfHost(this.options.config.host)}:${this.portValue}`;
  }

  get tempDirectory(): string {
    return this.tempRoot;
  }

  poolHealth(): PoolHealth {
    return this.pool.health();
  }

  async start(): Promise<void> {
    const { config } = this.options;
    this.playground = await bundlePlayground({ tokenRequired: config.localToken !== undefined });
    await new Promise<void>((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException): void => {
        if (error.code === 'EADDRINUSE') {
          reject(new Error(`Port ${config.port} on ${config.host} is already in use; stop the other server or set PORT to a free port (PORT=0 picks one).`));
        } else if (error.code === 'EADDRNOTAVAIL') {
          reject(new Error(`HOST=${config.host} is not an address of this machine; use 127.0.0.1 or an address it owns.`));
        } else {
          reject(error);
        }
      };
      this.server.once('error', onError);
      this.server.listen(config.port, config.host, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
    this.portValue = (this.server.address() as AddressInfo).port;

    const invokerConfig = this.invokerConfig();
    const observability = createObservability({ serviceName: 'local-invoker', metrics: false });
    this.invoker = { handler: createInvoker(invokerConfig, { lambda: createLambdaClient(invokerConfig) }, observability), config: invokerConfig };
    this.artifacts.startSweeping();
    await this.pool.start();
  }

  /** The in-process invoker's configuration: this server's Invoke API, its artifact folder and its URL. */
  private invokerConfig(): InvokerConfig {
    const { config } = this.options;
    return {
      limits: config.limits,
      executorFunctionName: DEFAULT_EXECUTOR_FUNCTION_NAME,
      // The pool answers every invocation within its queue wait plus the function timeout (refused, run,
      // or timed out): the invoker waits that long, so a request that only waited never ends in a 504.
      clientTimeoutMs: invokerClientTimeoutMs(config),
      lambdaEndpoint: `http://${selfHost(config.host)}:${this.portValue}`,
      // The Invoke API requires the token of every caller, the in-process invoker included.
      lambdaEndpointAccessKeyId: config.localToken,
      artifacts: { kind: 'local', dir: this.artifacts.root, baseUrl: `${this.url}/artifacts` },
      corsAllowOrigins: [this.url],
      tenancy: config.tenancy,
      // API Gateway's IAM auth as the local server emulates it: one local caller (LOCAL_CALLER_ARN).
      authMode: 'iam',
      sealKey: new SealKey(this.sealKey),
    };
  }

  waitForFirstRuntime(timeoutMs: number): Promise<void> {
    return this.pool.waitForFirstReady(timeoutMs);
  }

  /** Calls this server's own HTTP API as a local caller would (with LOCAL_TOKEN when it has one). */
  fetchApi(path: string, init: { method?: string; body?: string } = {}): Promise<Response> {
    const token = this.options.config.localToken;
    return fetch(`${this.url}${path}`, {
      method: init.method ?? 'GET',
      headers: { 'Content-Type': 'application/json', ...(token !== undefined ? { Authorization: `Bearer ${token}` } : {}) },
      body: init.body,
    });
  }

  /**
   * Stops accepting, lets running executions finish for up to
   * SHUTDOWN_GRACE_MS, kills every runtime and worker, removes temp folders.
   */
  shutdown(): Promise<void> {
    this.shuttingDown ??= this.doShutdown();
    return this.shuttingDown;
  }

  private async doShutdown(): Promise<void> {
    const { config } = this.options;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    this.pool.refuseNewWork();
    const drained = await this.pool.drain(config.shutdownGraceMs);
    if (!drained) {
      this.options.log(`Executions still running after ${config.shutdownGraceMs} ms (SHUTDOWN_GRACE_MS) are being stopped.`);
    }
    await this.pool.stop('the local server is shutting down');
    // Let handlers turn the last outcomes into HTTP answers before connections are cut.
    const deadline = Date.now() + 2000;
    while (this.inFlight > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    this.server.closeAllConnections();
    await closed;
    this.artifacts.stopSweeping();
    rmSync(this.tempRoot, { recursive: true, force: true });
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.inFlight += 1;
    res.on('close', () => {
      this.inFlight -= 1;
    });
    try {
      await this.dispatch(req, res);
    } catch (error) {
      this.options.log(`Unexpected error while serving ${req.method} ${req.url}: ${(error as Error).stack ?? String(error)}`);
      if (!res.headersSent) {
        sendJson(res, 500, errorResponse('InternalError', 'The local server failed while handling this request; see its log.', randomUUID()));
      } else {
        res.destroy();
      }
    }
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const rawUrl = req.url ?? '/';
    // Prefixing keeps a path such as //evil.example from being read as a host.
    const url = new URL(`http://local${rawUrl.startsWith('/') ? rawUrl : `/${rawUrl}`}`);
    const path = url.pathname;
    const policy = { token: this.options.config.localToken, bindHost: this.options.config.host };

    if (this.shuttingDown !== undefined) {
      res.setHeader('Connection', 'close');
    }

    if (isInvokePath(path)) {
      // No peer is exempt: behind a reverse proxy or a tunnel every caller is a loopback peer.
      const denied = checkAccess(req, 'invoke', policy);
      if (denied !== undefined) {
        sendJson(res, denied.status, { Type: 'User', message: denied.message }, { 'x-amzn-ErrorType': 'AccessDeniedException' });
        return;
      }
      await handleInvoke(req, res, url, { functionName: DEFAULT_EXECUTOR_FUNCTION_NAME, pool: this.pool, bodyTimeoutMs: this.options.config.bodyTimeoutMs });
      return;
    }

    if (path.startsWith('/artifacts/') || path === '/artifacts') {
      const denied = checkAccess(req, 'artifact', policy);
      if (denied !== undefined) {
        sendJson(res, denied.status, { error: denied.message, errorType: 'Forbidden' });
        return;
      }
      await this.artifacts.serve(req, res, path.slice('/artifacts/'.length));
      return;
    }

    if (path === LOCAL_STATUS_PATH) {
      // The runtimes' states without invoking the executor, so it answers even when every runtime is busy.
      const denied = checkAccess(req, 'api', policy);
      if (denied !== undefined) {
        sendJson(res, denied.status, { error: denied.message, errorType: denied.status === 401 ? 'Unauthorized' : 'Forbidden' });
      } else if (req.method !== 'GET' && req.method !== 'HEAD') {
        sendJson(res, 405, { error: `Method ${req.method} is not allowed on ${path}; use GET.`, errorType: 'MethodNotAllowed' }, { Allow: 'GET, HEAD' });
      } else {
        sendJson(res, 200, this.localStatus());
      }
      return;
    }

    if (path === OPENAPI_PATH) {
      this.serveOpenApi(req, res, policy);
      return;
    }

    const asset = this.playground?.assets.get(path);
    if (asset !== undefined) {
      const denied = checkAccess(req, 'static', policy);
      if (denied !== undefined) {
        sendJson(res, denied.status, { error: denied.message, errorType: 'Forbidden' });
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        sendJson(res, 405, { error: `Method ${req.method} is not allowed on ${path}; use GET.`, errorType: 'MethodNotAllowed' }, { Allow: 'GET, HEAD' });
        return;
      }
      res.writeHead(200, {
        'Content-Type': asset.contentType,
        'Content-Length': String(asset.body.length),
        'Cache-Control': 'no-cache',
        'X-Content-Type-Options': 'nosniff',
        'Referrer-Policy': 'no-referrer',
        'X-Frame-Options': 'DENY',
        // CodeMirror injects its styles at runtime, hence 'unsafe-inline' for styles only.
        'Content-Security-Policy':
          "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
      });
      res.end(req.method === 'HEAD' ? undefined : asset.body);
      return;
    }

    await this.apiRequest(req, res, url);
  }

  private async apiRequest(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const { config } = this.options;
    const requestId = randomUUID();
    const denied = checkAccess(req, 'api', { token: config.localToken, bindHost: config.host });
    if (denied !== undefined) {
      const errorType = denied.status === 401 ? 'Unauthorized' : 'Forbidden';
      sendJson(res, denied.status, { ...errorResponse('InvalidRequest', denied.message, requestId), errorType });
      return;
    }
    if (this.invoker === undefined) {
      sendJson(res, 503, errorResponse('ServiceUnavailable', 'The local server is still starting; retry in a moment.', requestId));
      return;
    }
    const body = await readBody(req, { maxBytes: config.limits.maxRequestBytes, timeoutMs: config.bodyTimeoutMs });
    if (body.kind === 'tooLarge') {
      finishEarly(req, res, config.bodyTimeoutMs);
      sendJson(res, statusForErrorType('RequestTooLarge'), errorResponse('RequestTooLarge', messages.bodyTooLarge(config.limits.maxRequestBytes), requestId));
      return;
    }
    if (body.kind === 'timeout') {
      finishEarly(req, res, 0);
      sendJson(
        res,
        408,
        errorResponse('InvalidRequest', `The request body did not arrive within ${config.bodyTimeoutMs} ms; send the whole body at once.`, requestId),
        { Connection: 'close' },
      );
      return;
    }
    if (body.kind === 'aborted') {
      res.destroy();
      return;
    }
    const event = toProxyEvent({ req, path: url.pathname, query: url.searchParams, body: body.body, requestId });
    const context = lambdaContext(requestId, invokerClientTimeoutMs(config) + INVOKE_ANSWER_MARGIN_MS);
    const healthCheck = url.pathname === '/healthz' && (req.method === 'GET' || req.method === 'HEAD');
    const remembered = healthCheck ? this.rememberedHealth(event, requestId, this.invoker.config) : undefined;
    if (remembered !== undefined) {
      writeProxyResult(res, this.withLocalHealth(remembered));
      return;
    }
    const result = await this.invoker.handler(event, context);
    if (healthCheck) {
      if (result.statusCode === 200) this.lastHealth = { result, atMs: Date.now() };
      writeProxyResult(res, this.withLocalHealth(result));
      return;
    }
    writeProxyResult(res, result);
  }

  /**
   * The API's OpenAPI description with this server's limits and URL. Public
   * like the playground files: it holds no secret, and agents read it to learn the API.
   */
  private serveOpenApi(req: IncomingMessage, res: ServerResponse, policy: Parameters<typeof checkAccess>[2]): void {
    const denied = checkAccess(req, 'static', policy);
    if (denied !== undefined) {
      sendJson(res, denied.status, { error: denied.message, errorType: 'Forbidden' });
    } else if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendJson(res, 405, { error: `Method ${req.method} is not allowed on ${OPENAPI_PATH}; use GET.`, errorType: 'MethodNotAllowed' }, { Allow: 'GET, HEAD' });
    } else {
      const servers = [{ url: this.url, description: 'This local server' }];
      sendJson(res, 200, buildOpenApiDocument({ limits: this.options.config.limits, servers }));
    }
  }

  /**
   * GET /healthz is a liveness probe: it must not wait behind executions for
   * a runtime. While the caller's tenant has no runtime waiting for work, it
   * is answered from the last report an executor gave through the invoker
   * (refreshed by any health check that finds a runtime idle), marked with
   * when it was made. Undefined: ask an executor (a runtime is idle, there is
   * no report yet, or the request is one the invoker must refuse itself).
   */
  private rememberedHealth(event: APIGatewayProxyEvent, requestId: string, invokerConfig: InvokerConfig): APIGatewayProxyResult | undefined {
    if (this.lastHealth === undefined) return undefined;
    let tenantId: string | undefined;
    try {
      tenantId = assignTenant(event, invokerConfig).invokeTenantId;
    } catch {
      return undefined;
    }
    if (this.pool.hasIdleRuntime(tenantId)) return undefined;
    const { result, atMs } = this.lastHealth;
    const body = { ...(JSON.parse(result.body) as Record<string, unknown>), requestId, reportedAt: new Date(atMs).toISOString(), fromLastReport: true };
    const headers = Object.fromEntries(Object.entries(result.headers ?? {}).filter(([name]) => !/^(access-control-|vary$)/i.test(name)));
    return { statusCode: 200, headers: { ...headers, 'X-Request-Id': requestId }, body: JSON.stringify(body) };
  }

  private localStatus(): Record<string, unknown> {
    return { ...this.pool.health(), pythonExecutable: this.options.pythonExecutable, tempDirectory: this.tempRoot, shuttingDown: this.shuttingDown !== undefined };
  }

  /** Adds the local runtimes' states to the invoker's health answer. */
  private withLocalHealth(result: APIGatewayProxyResult): APIGatewayProxyResult {
    try {
      const body = JSON.parse(result.body) as Record<string, unknown>;
      body.local = this.localStatus();
      return { ...result, body: JSON.stringify(body) };
    } catch {
      return result;
    }
  }
}

/**
 * `python3 -m executor`, or in the Lambda profile the launcher that runs it
 * as Lambda would (its uid, the function's memory, the Runtime API from
 * AWS_LAMBDA_RUNTIME_API, which the emulator sets).
 */
function runtimeArgs(options: LocalServerOptions, slot: number): string[] {
  const { config } = options;
  if (config.sandboxProfile !== 'lambda') {
    return ['-m', 'executor'];
  }
  return [
    join(options.repoRoot, 'local', 'lambda-profile.py'),
    '--uid', String(sandboxUidOf(options, slot)),
    '--task-root', join(options.repoRoot, 'runtime-image'),
    '--memory-mb', String(config.functionMemoryMb),
    '--', options.pythonExecutable, '-m', 'executor',
  ];
}

/** Time for the Invoke API's own answer beyond the queue wait and the function timeout. */
const INVOKE_ANSWER_MARGIN_MS = 5000;

function invokerClientTimeoutMs(config: LocalConfig): number {
  return config.queueWaitMs + config.functionTimeoutS * 1000 + INVOKE_ANSWER_MARGIN_MS;
}

function sandboxUidOf(options: LocalServerOptions, slot: number): number {
  const uid = options.sandboxUids?.[slot - 1];
  if (uid === undefined) {
    throw new Error(`No sandbox uid was leased for runtime slot ${slot}; lease SANDBOX_CONCURRENCY uids (local/uid-lease.ts) before starting the server as root.`);
  }
  return uid;
}

function isInvokePath(path: string | undefined): boolean {
  return path !== undefined && (path.startsWith(INVOKE_PATH_PREFIX) || path === '/2015-03-31/functions');
}

/** The HTTP API's answer to a request Node's HTTP parser refused: the contract's error shape. */
function malformedApiAnswer(problem: MalformedRequest): ReturnType<typeof errorResponse> {
  const errorType = problem.statusCode === 413 || problem.statusCode === 431 ? 'RequestTooLarge' : 'InvalidRequest';
  return errorResponse(errorType, problem.message, randomUUID());
}

function lambdaContext(requestId: string, timeoutMs: number): Context {
  const deadline = Date.now() + timeoutMs;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: INVOKER_FUNCTION_NAME,
    functionVersion: '$LATEST',
    invokedFunctionArn: functionArn(INVOKER_FUNCTION_NAME),
    memoryLimitInMB: '256',
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/${INVOKER_FUNCTION_NAME}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}
