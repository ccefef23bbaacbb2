/**
 * What verify-deployment checks: a deployed stack (through its outputs, with
 * the caller's AWS credentials) or the local server (`npm start`). Both offer
 * the same operations, so every check runs the same code against either.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { CloudWatchLogsClient, FilterLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { GetFunctionConfigurationCommand, InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import type { NetworkTargets } from './probes';

/** The target cannot be checked at all (no such stack, not this product, unreachable); the message says what to do. */
export class VerifyTargetError extends Error {
  override readonly name = 'VerifyTargetError';
}

export interface ApiAnswer {
  readonly status: number;
  readonly body: Record<string, any>;
}

export interface DirectInvoke {
  readonly payload: unknown;
  readonly functionError: string | undefined;
  /** The invocation's log tail (START ... REPORT), as Lambda returns it with LogType Tail. */
  readonly logTail: string;
}

/** One `REPORT RequestId: ...` line of Lambda's log. */
export interface ReportLine {
  readonly durationMs: number;
  readonly memorySizeMb?: number;
  readonly maxMemoryUsedMb?: number;
  readonly initDurationMs?: number;
}

export interface Target {
  readonly kind: 'deployed' | 'local';
  /** What is being checked, for the report's first line. */
  readonly label: string;
  /** Facts learned while connecting (stack outputs read), as report lines. */
  readonly setupNotes: readonly string[];
  readonly network: NetworkTargets;
  api(method: 'GET' | 'POST', path: string, body?: unknown, headers?: Record<string, string>): Promise<ApiAnswer>;
  /** A direct invoke; `tenantId` is required by a function in tenant isolation mode and refused by one without. */
  invokeExecutor(payload: unknown, tenantId: string | undefined): Promise<DirectInvoke>;
  /** REPORT lines the platform logged recently; undefined where only direct invokes' tails exist (locally). */
  loggedReportLines(): Promise<{ readonly lines: ReportLine[]; readonly source: string } | undefined>;
  /** The function's tenant isolation mode (locally as the server emulates it), or undefined where it has none. */
  tenantIsolationMode(): Promise<string | undefined>;
  /**
   * The runtime processes serving the function and how many invocations each
   * took (local only: every local runtime shares the laptop's kernel, so an
   * environment is told apart by its process, as the server lists it).
   */
  runtimeProcesses(): Promise<readonly RuntimeProcess[] | undefined>;
  /**
   * Returns once the environment that served the last request is free again
   * (its executor's work after the response done), so that a function which
   * shares environments between tenants would hand it the next request.
   */
  waitUntilIdle(): Promise<void>;
  /** Connections the loopback canary received (local only: the network probes aim at it). */
  canaryConnections(): number | undefined;
  close(): Promise<void>;
}

export interface RuntimeProcess {
  readonly pid: number | null;
  readonly state: string;
  readonly invocations: number;
  readonly tenantId: string | null;
}

/** How long the local runtimes may take to finish their last invocation's clean-up. */
const IDLE_WAIT_LIMIT_MS = 30_000;
/** A pause meant to outlast the executor's work after a response (kill the worker, wipe, fork the next); not yet measured in Lambda. */
const DEPLOYED_SETTLE_MS = 2_000;

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const REPORT_FIELDS: Record<string, keyof ReportLine> = {
  Duration: 'durationMs',
  'Memory Size': 'memorySizeMb',
  'Max Memory Used': 'maxMemoryUsedMb',
  'Init Duration': 'initDurationMs',
};

/** Parses every REPORT line in `text` (Lambda's tab-separated `Field: value unit` list). */
export function parseReportLines(text: string): ReportLine[] {
  const lines: ReportLine[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('REPORT RequestId:')) continue;
    const fields: Partial<Record<keyof ReportLine, number>> = {};
    for (const part of line.split('\t').slice(1)) {
      const match = /^([A-Za-z ]+): ([\d.]+) (ms|MB)$/.exec(part.trim());
      const key = match === null ? undefined : REPORT_FIELDS[match[1]];
      if (match !== null && key !== undefined) fields[key] = Number(match[2]);
    }
    if (fields.durationMs !== undefined) lines.push(fields as ReportLine);
  }
  return lines;
}

async function readAnswer(response: Response): Promise<ApiAnswer> {
  const text = await response.text();
  try {
    return { status: response.status, body: JSON.parse(text) as Record<string, any> };
  } catch {
    return { status: response.status, body: { unparsed: text.slice(0, 300) } };
  }
}

function decodeTail(logResult: string | undefined): string {
  return logResult === undefined ? '' : Buffer.from(logResult, 'base64').toString('utf8');
}

async function invokeWith(lambda: LambdaClient, functionName: string, payload: unknown, tenantId: string | undefined): Promise<DirectInvoke> {
  const output = await lambda.send(
    new InvokeCommand({ FunctionName: functionName, Payload: Buffer.from(JSON.stringify(payload)), LogType: 'Tail', TenantId: tenantId }),
  );
  const text = output.Payload ? Buffer.from(output.Payload).toString('utf8') : '';
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Reported as is.
  }
  return { payload: parsed, functionError: output.FunctionError, logTail: decodeTail(output.LogResult) };
}

/** A TCP listener on loopback that only counts who connects: the local network probes aim here. */
class Canary {
  private connections = 0;
  private readonly server: Server = createServer((socket) => {
    this.connections += 1;
    socket.destroy();
  });

  async start(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', () => resolve()));
    return (this.server.address() as AddressInfo).port;
  }

  get count(): number {
    return this.connections;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

export interface LocalTargetOptions {
  readonly endpoint: string;
  readonly functionName: string;
  /** LOCAL_TOKEN of a server bound beyond loopback. */
  readonly token?: string;
}

export async function localTarget(options: LocalTargetOptions): Promise<Target> {
  const endpoint = options.endpoint.replace(/\/+$/, '');
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new VerifyTargetError(`--endpoint must be the local server's URL, such as http://127.0.0.1:3000, but it is '${options.endpoint}'.`);
  }
  const canary = new Canary();
  const canaryPort = await canary.start();
  const lambda = new LambdaClient({
    endpoint,
    region: 'us-east-1',
    // Without LOCAL_TOKEN the local Invoke API takes any credentials; with one, the access key id must be the token.
    credentials: { accessKeyId: options.token ?? 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
  const authorization: Record<string, string> = options.token === undefined ? {} : { Authorization: `Bearer ${options.token}` };
  const unreachable = (error: unknown): VerifyTargetError =>
    new VerifyTargetError(`The local server at ${endpoint} did not answer (${(error as Error).message}): start it with npm start and pass its URL.`);
  // The server's own status route (local/server.ts LOCAL_STATUS_PATH): its runtimes, without invoking any.
  const localStatus = async (): Promise<{ tenancy?: string; runtimes: RuntimeProcess[] }> => {
    let response: Response;
    try {
      response = await fetch(`${endpoint}/local/status`, { headers: authorization });
    } catch (error) {
      throw unreachable(error);
    }
    if (!response.ok) throw new VerifyTargetError(`${endpoint}/local/status answered HTTP ${response.status}: start the server with npm start and pass its URL.`);
    return (await response.json()) as { tenancy?: string; runtimes: RuntimeProcess[] };
  };
  return {
    kind: 'local',
    label: `the local server at ${url.origin}`,
    setupNotes: [],
    network: {
      dnsName: 'localhost',
      tcpHost: '127.0.0.1',
      tcpPort: canaryPort,
      otherBucketUrl: `http://127.0.0.1:${canaryPort}/another-bucket/verify-deployment`,
    },
    async api(method, path, body, headers = {}) {
      try {
        const response = await fetch(`${endpoint}${path}`, {
          method,
          headers: { ...(body === undefined ? {} : { 'Content-Type': 'application/json' }), ...authorization, ...headers },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        return await readAnswer(response);
      } catch (error) {
        throw unreachable(error);
      }
    },
    invokeExecutor: (payload, tenantId) => invokeWith(lambda, options.functionName, payload, tenantId),
    loggedReportLines: async () => undefined,
    // The server's pool emulates Lambda's mode: PER_TENANT when it runs with TENANCY=perTenant.
    tenantIsolationMode: async () => ((await localStatus()).tenancy === 'perTenant' ? 'PER_TENANT' : undefined),
    runtimeProcesses: async () => (await localStatus()).runtimes,
    async waitUntilIdle() {
      const deadline = Date.now() + IDLE_WAIT_LIMIT_MS;
      while (!(await localStatus()).runtimes.every((runtime) => runtime.state === 'idle')) {
        if (Date.now() > deadline) throw new VerifyTargetError(`The local runtimes did not all become idle within ${IDLE_WAIT_LIMIT_MS} ms; run verify-deployment while nothing else uses the server.`);
        await delay(50);
      }
    },
    canaryConnections: () => canary.count,
    async close() {
      lambda.destroy();
      await canary.stop();
    },
  };
}

export interface DeployedTargetOptions {
  readonly stackName: string;
  readonly region?: string;
  /** How far back the executor's REPORT lines are read. */
  readonly logWindowHours: number;
}

const REQUIRED_OUTPUTS = ['ApiUrl', 'ExecutorFunctionName', 'ArtifactBucketName'] as const;

export async function deployedTarget(options: DeployedTargetOptions): Promise<Target> {
  const credentials = defaultProvider();
  const cloudFormation = new CloudFormationClient({ region: options.region, credentials });
  const region = await cloudFormation.config.region();
  const outputs: Record<string, string> = {};
  try {
    const described = await cloudFormation.send(new DescribeStacksCommand({ StackName: options.stackName }));
    for (const output of described.Stacks?.[0]?.Outputs ?? []) {
      if (output.OutputKey && output.OutputValue) outputs[output.OutputKey] = output.OutputValue;
    }
  } catch (error) {
    throw new VerifyTargetError(
      `Could not read the stack ${options.stackName} in ${region} (${(error as Error).name}: ${(error as Error).message}): ` +
        'check the stack name (npx cdk list), the region (--region) and that your credentials may call cloudformation:DescribeStacks.',
    );
  }
  const missing = REQUIRED_OUTPUTS.filter((key) => outputs[key] === undefined);
  if (missing.length > 0) {
    throw new VerifyTargetError(`The stack ${options.stackName} has no output ${missing.join(', ')}: it is not a secure-python-executor stack, or its deploy did not finish.`);
  }
  const apiUrl = outputs.ApiUrl.endsWith('/') ? outputs.ApiUrl : `${outputs.ApiUrl}/`;
  const functionName = outputs.ExecutorFunctionName;
  const sign = (service: string) => new SignatureV4({ service, region, credentials, sha256: Hash.bind(null, 'sha256') });

  async function signedFetch(service: string, method: string, target: URL, body?: string, headers: Record<string, string> = {}): Promise<Response> {
    const signed = await sign(service).sign({
      method,
      protocol: target.protocol,
      hostname: target.hostname,
      path: target.pathname,
      query: Object.fromEntries(target.searchParams),
      headers: { host: target.host, ...headers },
      body,
    });
    return fetch(target, { method, headers: signed.headers, body });
  }

  // apiKey mode: the key's value, read with the caller's credentials (apigateway:GET on /apikeys/<id>).
  let apiKey: string | undefined;
  if (outputs.ApiKeyId !== undefined) {
    const keyUrl = new URL(`https://apigateway.${region}.amazonaws.com/apikeys/${encodeURIComponent(outputs.ApiKeyId)}?includeValue=true`);
    const answer = await readAnswer(await signedFetch('apigateway', 'GET', keyUrl));
    if (answer.status !== 200 || typeof answer.body.value !== 'string') {
      throw new VerifyTargetError(`Could not read the API key ${outputs.ApiKeyId} (HTTP ${answer.status}): your credentials need apigateway:GET on /apikeys/${outputs.ApiKeyId}.`);
    }
    apiKey = answer.body.value;
  }

  const lambda = new LambdaClient({ region, credentials, maxAttempts: 1 });
  const logs = new CloudWatchLogsClient({ region, credentials });
  const configuration = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: functionName }));

  return {
    kind: 'deployed',
    label: `the stack ${options.stackName} in ${region}`,
    setupNotes: [`stack outputs read: ${Object.keys(outputs).sort().join(', ')}`, `API ${apiUrl} (${apiKey === undefined ? 'SigV4' : 'API key'})`],
    network: {
      dnsName: 'example.com',
      tcpHost: '1.1.1.1',
      tcpPort: 443,
      otherBucketUrl: `https://verify-deployment-${randomUUID().slice(0, 8)}.s3.${region}.amazonaws.com/verify-deployment`,
    },
    async api(method, path, body, headers = {}) {
      const target = new URL(path.replace(/^\//, ''), apiUrl);
      const text = body === undefined ? undefined : JSON.stringify(body);
      const contentType: Record<string, string> = text === undefined ? {} : { 'content-type': 'application/json' };
      if (apiKey !== undefined) {
        return readAnswer(await fetch(target, { method, headers: { ...contentType, 'x-api-key': apiKey, ...headers }, body: text }));
      }
      return readAnswer(await signedFetch('execute-api', method, target, text, { ...contentType, ...headers }));
    },
    invokeExecutor: (payload, tenantId) => invokeWith(lambda, functionName, payload, tenantId),
    async loggedReportLines() {
      const logGroupName = configuration.LoggingConfig?.LogGroup ?? `/aws/lambda/${functionName}`;
      const lines: ReportLine[] = [];
      let nextToken: string | undefined;
      // A few pages are plenty for init and memory figures.
      for (let page = 0; page < 5; page += 1) {
        const found = await logs.send(
          new FilterLogEventsCommand({
            logGroupName,
            filterPattern: '"REPORT RequestId"',
            startTime: Date.now() - options.logWindowHours * 3_600_000,
            nextToken,
          }),
        );
        for (const event of found.events ?? []) lines.push(...parseReportLines(event.message ?? ''));
        nextToken = found.nextToken;
        if (nextToken === undefined) break;
      }
      return { lines, source: `${logGroupName}, last ${options.logWindowHours} h` };
    },
    tenantIsolationMode: async () => configuration.TenancyConfig?.TenantIsolationMode,
    runtimeProcesses: async () => undefined,
    // Lambda shows no environment's state: wait longer than the executor's work after a response takes.
    waitUntilIdle: () => delay(DEPLOYED_SETTLE_MS),
    canaryConnections: () => undefined,
    async close() {
      lambda.destroy();
      logs.destroy();
      cloudFormation.destroy();
    },
  };
}
