import type { ErrorType } from './types';

/**
 * A request the API refuses, carrying the HTTP status and errorType the
 * caller will see. Thrown by parsing and validation; caught once by the handler.
 */
export class RequestError extends Error {
  override readonly name = 'RequestError';

  constructor(
    readonly status: number,
    readonly errorType: ErrorType,
    message: string,
    /** Extra response headers, e.g. `Allow` on a 405. */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
}

/** Deployment or local-server configuration that cannot work; the message names the variable and the fix. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/**
 * The executor could not produce an outcome (throttled, unreachable, timed
 * out, crashed, or answered outside the contract). `detail` is for the log
 * only and never reaches the caller, because it may hold internal messages.
 */
export class ExecutorError extends Error {
  override readonly name = 'ExecutorError';

  constructor(
    readonly status: number,
    readonly errorType: ErrorType,
    message: string,
    readonly detail: Readonly<Record<string, string | number | undefined>> = {},
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
}
