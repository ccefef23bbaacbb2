/**
 * Wire types of the contract (contract/README.md). The invoker, the local
 * server and the executor all speak these shapes; keep them in step with the
 * README and the JSON fixtures beside it.
 */

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** Every errorType a response may carry, in the order of contract/status.json. */
export const ERROR_TYPES = [
  'InvalidRequest',
  'RequestTooLarge',
  'UnsupportedMediaType',
  'NotFound',
  'MethodNotAllowed',
  'AccessDenied',
  'ScriptError',
  'Timeout',
  'MemoryLimit',
  'OutputLimit',
  'ResultNotSerializable',
  'ResultTooLarge',
  'PolicyViolation',
  'Throttled',
  'InternalError',
  'ServiceUnavailable',
  'ExecutorTimeout',
] as const;

export type ErrorType = (typeof ERROR_TYPES)[number];

/** The request body of POST /execute, and the direct-invoke event. */
export interface ExecuteRequest {
  readonly script: string;
  readonly input?: JsonValue;
  readonly timeoutMs?: number;
}

/** The S3 presigned POST the invoker hands to the executor for artifact uploads. */
export interface ArtifactUpload {
  readonly url: string;
  readonly fields: Record<string, string>;
  readonly keyPrefix: string;
}

/** What the executor Lambda receives: the request plus invoker-only fields. */
export interface ExecutorEvent extends ExecuteRequest {
  readonly requestId?: string;
  readonly artifactUpload?: ArtifactUpload;
}

/** The health event; the executor answers with {@link ExecutorHealthResponse}. */
export interface HealthEvent {
  readonly action: 'health';
}

export interface ExecutorHealthResponse {
  readonly ok: true;
  readonly health: { readonly [key: string]: JsonValue };
}

/** An artifact as the caller sees it. `url` is null only when no artifact store is configured. */
export interface Artifact {
  name: string;
  contentType: string;
  size: number;
  url: string | null;
  /** Present only when no artifact store is configured: the bytes inline. */
  contentBase64?: string;
}

/** An artifact as the executor returns it: uploaded (`key`) or inline (`contentBase64`). */
export interface ExecutorArtifact {
  readonly name: string;
  readonly contentType: string;
  readonly size: number;
  readonly key?: string;
  readonly contentBase64?: string;
}

export interface Truncated {
  stdout: boolean;
  stderr: boolean;
  /** More files than maxArtifacts were written to outputs/: the first ones are returned. */
  artifacts: boolean;
}

/** The response of POST /execute and of the executor: always every key. */
export interface ExecuteResponse {
  ok: boolean;
  result: JsonValue;
  stdout: string;
  stderr: string;
  truncated: Truncated;
  error: string | null;
  errorType: ErrorType | null;
  traceback: string | null;
  artifacts: Artifact[];
  durationMs: number;
  requestId: string;
}

/** The keys every execute response carries, in wire order. */
export const RESPONSE_KEYS: readonly (keyof ExecuteResponse)[] = [
  'ok',
  'result',
  'stdout',
  'stderr',
  'truncated',
  'error',
  'errorType',
  'traceback',
  'artifacts',
  'durationMs',
  'requestId',
];

export function isErrorType(value: unknown): value is ErrorType {
  return typeof value === 'string' && (ERROR_TYPES as readonly string[]).includes(value);
}
