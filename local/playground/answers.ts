import { isErrorType } from '../../contract/types';
import { STATUS_BY_ERROR_TYPE } from '../../contract/status';

/**
 * Answers that never reached a worker (refused before any Python ran) carry
 * durationMs 0; showing "0 ms in the worker" would claim a run that did not
 * happen. A refusal is what the contract maps to a 4xx other than 422 (the
 * script's own failure), or no capacity (ServiceUnavailable); the local
 * server's own 401/403 (Unauthorized, Forbidden) are 4xx answers too.
 */
export function reachedWorker(httpStatus: number, errorType: string | null | undefined): boolean {
  if (errorType === 'ServiceUnavailable') return false;
  const status = errorType != null && isErrorType(errorType) ? STATUS_BY_ERROR_TYPE[errorType] : httpStatus;
  return !(status >= 400 && status < 500 && status !== 422);
}
