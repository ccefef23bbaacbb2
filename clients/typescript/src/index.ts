/**
 * A client for secure-python-executor: the deployed API (SigV4 or API key)
 * and the local server (optional bearer token). It needs nothing but the
 * platform's fetch; SigV4 signing loads @smithy/signature-v4 and
 * @smithy/hash-node, optional peer dependencies, only when `auth.mode` is `iam`.
 */

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** The errorTypes of contract/status.json, plus the local server's own refusals. */
export type ErrorType =
  | 'InvalidRequest'
  | 'RequestTooLarge'
  | 'UnsupportedMediaType'
  | 'NotFound'
  | 'MethodNotAllowed'
  | 'AccessDenied'
  | 'ScriptError'
  | 'Timeout'
  | 'MemoryLimit'
  | 'OutputLimit'
  | 'ResultNotSerializable'
  | 'ResultTooLarge'
  | 'PolicyViolation'
  | 'Throttled'
  | 'InternalError'
  | 'ServiceUnavailable'
  | 'ExecutorTimeout'
  | 'Unauthorized'
  | 'Forbidden';

export interface RunRequest {
  readonly script: string;
  readonly input?: JsonValue;
  readonly timeoutMs?: number;
}

export interface Artifact {
  readonly name: string;
  readonly contentType: string;
  readonly size: number;
  readonly url: string | null;
  readonly contentBase64?: string;
}

/** The API's response: every key, always (contract/openapi.json, ExecuteResponse). */
export interface ExecuteResponse<Result extends JsonValue = JsonValue> {
  readonly ok: boolean;
  readonly result: Result;
  readonly stdout: string;
  readonly stderr: string;
  readonly truncated: { readonly stdout: boolean; readonly stderr: boolean; readonly artifacts: boolean };
  readonly error: string | null;
  readonly errorType: ErrorType | null;
  readonly traceback: string | null;
  readonly artifacts: readonly Artifact[];
  readonly durationMs: number;
  readonly requestId: string;
}

export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

export type Auth =
  /** The local server without LOCAL_TOKEN. */
  | { readonly mode: 'none' }
  /** The local server with LOCAL_TOKEN. */
  | { readonly mode: 'bearer'; readonly token: string }
  /** A deployment with authMode=apiKey. */
  | { readonly mode: 'apiKey'; readonly apiKey: string }
  /** A deployment with authMode=iam: SigV4 for execute-api. Credentials may be a provider, called for every request. */
  | {
      readonly mode: 'iam';
      readonly region: string;
      readonly credentials: AwsCredentials | (() => Promise<AwsCredentials>);
    };

export interface ClientOptions {
  /** The API's base URL: the stack output ApiUrl, or http://127.0.0.1:3000. */
  readonly baseUrl: string;
  /** @default { mode: 'none' } */
  readonly auth?: Auth;
  /** Sent as X-Tenant-Id: runs this caller's end user in execution environments of its own. */
  readonly tenantId?: string;
  /** @default globalThis.fetch */
  readonly fetch?: typeof fetch;
}

/** Any answer other than a completed script. `errorType` and `requestId` are the API's; `response` is its whole body when it had the contract's shape. */
export class ExecutorApiError extends Error {
  override name = 'ExecutorApiError';

  constructor(
    message: string,
    readonly status: number,
    readonly errorType: ErrorType,
    readonly requestId: string | null,
    readonly response: ExecuteResponse | null,
  ) {
    super(message);
  }

  /** Whether the same request may succeed later: throttling, no capacity, a fault of the service. */
  get retryable(): boolean {
    return this.status === 429 || this.status >= 500;
  }
}

/** The script itself failed (HTTP 422): it raised, timed out, ran out of a limit, or returned something that is not JSON. */
export class ScriptFailedError extends ExecutorApiError {
  override name = 'ScriptFailedError';

  get traceback(): string | null {
    return this.response?.traceback ?? null;
  }
}

/** The request was refused before anything ran (4xx other than 422 and 429): fix the request, the credentials or the URL. */
export class RequestRejectedError extends ExecutorApiError {
  override name = 'RequestRejectedError';
}

/** The service could not run the request (429 or 5xx); retry with backoff. */
export class ServiceError extends ExecutorApiError {
  override name = 'ServiceError';
}

const SHAPE_KEYS = ['ok', 'error', 'errorType', 'requestId'] as const;

function errorFor(status: number, body: unknown, headerRequestId: string | null): ExecutorApiError {
  const contract =
    body !== null && typeof body === 'object' && SHAPE_KEYS.every((key) => key in (body as object)) ? (body as ExecuteResponse) : null;
  const errorType: ErrorType = contract?.errorType ?? (status >= 500 || status === 429 ? 'InternalError' : 'InvalidRequest');
  const requestId = contract?.requestId ?? headerRequestId;
  const message = contract?.error ?? `The API answered HTTP ${status} without the contract's JSON body.`;
  const ErrorClass = status === 422 ? ScriptFailedError : status === 429 || status >= 500 ? ServiceError : RequestRejectedError;
  return new ErrorClass(message, status, errorType, requestId, contract);
}

interface Signer {
  sign(request: { method: string; url: URL; headers: Record<string, string>; body: string }): Promise<Record<string, string>>;
}

async function sigv4Signer(auth: Extract<Auth, { mode: 'iam' }>): Promise<Signer> {
  let signatureV4: typeof import('@smithy/signature-v4');
  let hashNode: typeof import('@smithy/hash-node');
  try {
    signatureV4 = await import('@smithy/signature-v4');
    hashNode = await import('@smithy/hash-node');
  } catch {
    throw new Error(
      "auth.mode 'iam' signs requests with SigV4 through @smithy/signature-v4 and @smithy/hash-node, which are not installed: " +
        'npm install @smithy/signature-v4 @smithy/hash-node',
    );
  }
  const Sha256 = class extends hashNode.Hash {
    constructor(secret?: Parameters<typeof hashNode.Hash.prototype.update>[0]) {
      super('sha256', secret as never);
    }
  };
  const signer = new signatureV4.SignatureV4({
    service: 'execute-api',
    region: auth.region,
    credentials: typeof auth.credentials === 'function' ? auth.credentials : async () => auth.credentials as AwsCredentials,
    sha256: Sha256,
  });
  return {
    async sign({ method, url, headers, body }) {
      const query: Record<string, string> = {};
      url.searchParams.forEach((value, key) => {
        query[key] = value;
      });
      const signed = await signer.sign({
        method,
        protocol: url.protocol,
        hostname: url.hostname,
        port: url.port === '' ? undefined : Number(url.port),
        path: url.pathname,
        query,
        headers: { ...headers, host: url.host },
        body,
      });
      return signed.headers as Record<string, string>;
    },
  };
}

export class ExecutorClient {
  private readonly baseUrl: string;
  private readonly auth: Auth;
  private readonly fetchFn: typeof fetch;
  private signer: Promise<Signer> | undefined;

  constructor(private readonly options: ClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.auth = options.auth ?? { mode: 'none' };
    this.fetchFn = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  /**
   * Runs a script and returns the response of a completed run (HTTP 200).
   * Anything else throws: {@link ScriptFailedError} for the script's own
   * failure, {@link RequestRejectedError} and {@link ServiceError} otherwise,
   * each with `errorType` and `requestId`.
   */
  async run<Result extends JsonValue = JsonValue>(request: RunRequest): Promise<ExecuteResponse<Result>> {
    const body: Record<string, JsonValue> = { script: request.script };
    if (request.input !== undefined) body.input = request.input;
    if (request.timeoutMs !== undefined) body.timeoutMs = request.timeoutMs;
    return (await this.call('POST', '/execute', JSON.stringify(body))) as ExecuteResponse<Result>;
  }

  /** GET /healthz: the executor's Python version, preloads, isolation layers and limits. */
  async health(): Promise<{ status: string; executor: Record<string, JsonValue> | null; requestId: string } & Record<string, JsonValue>> {
    return (await this.call('GET', '/healthz', undefined)) as never;
  }

  /**
   * The bytes of an artifact: inline when the response carries them, else
   * from its URL (a presigned S3 URL or the local server's), fetched without
   * the API's credentials, which neither needs.
   */
  async downloadArtifact(artifact: Artifact): Promise<Uint8Array> {
    if (artifact.contentBase64 !== undefined) return Uint8Array.from(atob(artifact.contentBase64), (char) => char.charCodeAt(0));
    if (artifact.url === null) throw new Error(`Artifact '${artifact.name}' has neither a URL nor inline content.`);
    const response = await this.fetchFn(artifact.url);
    if (!response.ok) throw new Error(`Downloading artifact '${artifact.name}' failed with HTTP ${response.status}; artifact URLs expire (15 minutes in the cloud).`);
    return new Uint8Array(await response.arrayBuffer());
  }

  private async call(method: 'GET' | 'POST', path: string, body: string | undefined): Promise<unknown> {
    const url = new URL(`${this.baseUrl}${path}`);
    const headers = await this.headers(method, url, body);
    const response = await this.fetchFn(url, { method, headers, body });
    const text = await response.text();
    let parsed: unknown = null;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = null;
    }
    if (response.status === 200 && parsed !== null) return parsed;
    throw errorFor(response.status, parsed, response.headers.get('x-request-id'));
  }

  private async headers(method: string, url: URL, body: string | undefined): Promise<Record<string, string>> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.options.tenantId !== undefined) headers['x-tenant-id'] = this.options.tenantId;
    switch (this.auth.mode) {
      case 'none':
        return headers;
      case 'bearer':
        return { ...headers, authorization: `Bearer ${this.auth.token}` };
      case 'apiKey':
        return { ...headers, 'x-api-key': this.auth.apiKey };
      case 'iam': {
        this.signer ??= sigv4Signer(this.auth);
        return (await this.signer).sign({ method, url, headers, body: body ?? '' });
      }
    }
  }
}
