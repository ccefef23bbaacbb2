import { isDeepStrictEqual } from 'node:util';
import { ExecutorError, isErrorType, messages, statusForErrorType, type ExecuteResponse, type JsonValue } from '../contract';
import { jsonMemberTexts } from './json-members';

interface ExecutorOutcome {
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
    truncated: { stdout: truncated.stdout === true, stderr: truncated.stderr === true, artifacts: truncated.artifacts === true },
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

/**
 * The HTTP body for `response`, reusing the executor's own text (`text`,
 * which parsed to `payload`) for every member the invoker left as it was:
 * numbers keep their form (3.0 stays 3.0, large integers stay exact), and an
 * answer the invoker had nothing to change (every key, in the contract's
 * order, compact, no artifacts to sign) passes through byte for byte.
 * Members the invoker changed or added (the artifacts' URLs, its own
 * requestId, keys the executor left out) are encoded here.
 */
export function encodeExecutorResponse(response: ExecuteResponse, payload: unknown, text: string): string {
  const original = payload as Record<string, unknown>;
  const texts = jsonMemberTexts(text);
  const members = Object.entries(response).map(([key, value]) => {
    const kept = texts.get(key);
    const encoded = kept !== undefined && isDeepStrictEqual(original[key], value) ? kept : JSON.stringify(value);
    return `${JSON.stringify(key)}:${encoded}`;
  });
  return `{${members.join(',')}}`;
}
