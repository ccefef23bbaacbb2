import type { ErrorType, ExecuteResponse } from './types';

/**
 * A response for an outcome that never reached a script (bad request, no
 * route, executor fault). It has every key of the contract's response, so
 * clients can read `ok`, `error` and `errorType` the same way for every status.
 */
export function errorResponse(errorType: ErrorType, error: string, requestId: string): ExecuteResponse {
  return {
    ok: false,
    result: null,
    stdout: '',
    stderr: '',
    truncated: { stdout: false, stderr: false, artifacts: false },
    error,
    errorType,
    traceback: null,
    artifacts: [],
    durationMs: 0,
    requestId,
  };
}
