import type { ErrorType } from './types';
import { isErrorType } from './types';

/**
 * errorType to HTTP status: contract/status.json as code. A script's failure
 * is a 422, never a 5xx; 5xx means the service failed the caller.
 */
export const STATUS_BY_ERROR_TYPE: Readonly<Record<ErrorType, number>> = {
  InvalidRequest: 400,
  RequestTooLarge: 413,
  UnsupportedMediaType: 415,
  NotFound: 404,
  MethodNotAllowed: 405,
  AccessDenied: 403,
  ScriptError: 422,
  Timeout: 422,
  MemoryLimit: 422,
  OutputLimit: 422,
  ResultNotSerializable: 422,
  ResultTooLarge: 422,
  PolicyViolation: 422,
  Throttled: 429,
  InternalError: 500,
  ServiceUnavailable: 503,
  ExecutorTimeout: 504,
};

export const STATUS_OK = 200;

/** The status for an errorType; anything outside the contract is an executor fault (500). */
export function statusForErrorType(errorType: string): number {
  return isErrorType(errorType) ? STATUS_BY_ERROR_TYPE[errorType] : STATUS_BY_ERROR_TYPE.InternalError;
}

/**
 * The one mapping from an execution outcome to an HTTP status, used by the
 * invoker and the local server alike. `ok: true` is 200 whatever errorType
 * says; `ok: false` without a known errorType is an executor fault.
 */
export function statusForOutcome(outcome: { readonly ok: boolean; readonly errorType?: string | null }): number {
  if (outcome.ok) return STATUS_OK;
  return statusForErrorType(outcome.errorType ?? 'InternalError');
}
