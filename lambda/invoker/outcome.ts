import { ExecutorError, isErrorType, messages, statusForErrorType, type ExecuteResponse, type JsonValue } from '../contract';

export interface ExecutorOutcome {
  /** The response with every key, artifacts still empty. */
  readonly response: ExecuteResponse;
  /** The executor's artifact entries, resolved separately (signing, local files). */
  readonly rawArtifacts: unknown;
}

function invalid(problem: string): ExecutorError {
  return new ExecutorError(statusForErrorType('InternalError'), 'InternalError', messages.executorInvalidResponse, { problem });
}

/**
 * Reads an executor response defensively: the executor is ours, but a bug
 * there must become a clean InternalError here, never a malformed answer or a
 * 200 for a failure. Missing optional keys get their empty values so that the
 * caller always sees every key of the contract.
 */
export function normalizeExecutorResponse(payload: unknown, requestId: string): ExecutorOutcome {
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
    throw invalid('payload is not a JSON object');
  }
  const body = payload as Record<string, unknown>;
  if (typeof body.ok !== 'boolean') throw invalid("payload has no boolean 'ok'");

  const truncated = (body.truncated ?? {}) as Record<string, unknown>;
  const response: ExecuteResponse = {
    ok: body.ok,
    result: body.ok && 'result' in body ? (body.result as JsonValue) : null,
    stdout: typeof body.stdout === 'string' ? body.stdout : '',
    stderr: typeof body.stderr === 'string' ? body.stderr : '',
    truncated: { stdout: truncated.stdout === true, stderr: truncated.stderr === true },
    error: null,
    errorType: null,
    traceback: typeof body.traceback === 'string' ? body.traceback : null,
    artifacts: [],
    durationMs: typeof body.durationMs === 'number' && Number.isFinite(body.durationMs) && body.durationMs >= 0 ? body.durationMs : 0,
    requestId,
  };
  if (!body.ok) {
    if (isErrorType(body.errorType)) {
      response.errorType = body.errorType;
      response.error = typeof body.error === 'string' && body.error !== '' ? body.error : messages.executorFault;
    } else {
      // A failure the contract does not know cannot be trusted to be the script's fault.
      response.errorType = 'InternalError';
      response.error = messages.executorFault;
    }
  }
  return { response, rawArtifacts: body.artifacts };
}
