/**
 * The Lambda Invoke API (`POST /2015-03-31/functions/{name}/invocations`) for
 * the one local function, so `aws lambda invoke --endpoint-url` and
 * `@aws-sdk/client-lambda` work unchanged, and the invoker inside the local
 * server reaches the executor exactly as it does in the cloud.
 *
 * Shapes follow the service: errors are JSON `{"Type", "message"}` with the
 * error code in `x-amzn-ErrorType` (what the SDKs read), function errors are
 * 200 with `X-Amz-Function-Error: Unhandled` and the error document as payload.
 * The tenant id travels in `X-Amz-Tenant-Id` (the SDK's TenantId, the CLI's
 * --tenant-id); a missing one with tenancy perTenant, or one sent with tenancy
 * shared, is Lambda's 400 InvalidParameterValueException.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { LOCAL_REGION } from '../contract';
import { finishEarly, readBody, sendJson, type ErrorAnswer, type MalformedRequest } from './http-util';
import { InvocationCancelledError, PoolStoppedError, QueueFullError, TenantIdError, type RuntimePool } from './runtime-pool';

/** Lambda's synchronous invocation payload limit. */
const MAX_INVOKE_PAYLOAD_BYTES = 6 * 1024 * 1024;
export const INVOKE_PATH_PREFIX = '/2015-03-31/functions/';
const LOCAL_ACCOUNT_ID = '000000000000';

interface InvokeApiOptions {
  readonly functionName: string;
  readonly pool: RuntimePool;
  readonly bodyTimeoutMs: number;
}

/**
 * Lambda's TenantId (the X-Amz-Tenant-Id header of Invoke): 1 to 256
 * characters of this set, as the Lambda API model declares it (botocore's
 * lambda/2015-03-31 service-2.json, shape TenantId).
 */
const LAMBDA_TENANT_ID = /^[a-zA-Z0-9._:/=+\-@ ]{1,256}$/;

export function functionArn(functionName: string): string {
  return `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:function:${functionName}`;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** A Lambda API error: `{"Type", "message"}` with the code in `x-amzn-ErrorType`, which is what the SDKs read. */
function lambdaErrorAnswer(
  statusCode: number,
  code: string,
  message: string,
  extra: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): ErrorAnswer {
  return {
    body: { Type: statusCode >= 500 ? 'Service' : 'User', message, ...extra },
    headers: { 'x-amzn-ErrorType': code, 'x-amzn-RequestId': randomUUID(), ...headers },
  };
}

function lambdaError(
  res: ServerResponse,
  statusCode: number,
  code: string,
  message: string,
  extra: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): void {
  const answer = lambdaErrorAnswer(statusCode, code, message, extra, headers);
  sendJson(res, statusCode, answer.body, answer.headers);
}

/** The Invoke API's answer to a request Node's HTTP parser refused (see answerMalformedRequests). */
export function malformedInvokeAnswer(problem: MalformedRequest): ErrorAnswer {
  const code =
    problem.statusCode === 408 ? 'RequestTimeoutException' : problem.statusCode === 413 || problem.statusCode === 431 ? 'RequestTooLargeException' : 'InvalidRequestContentException';
  return lambdaErrorAnswer(problem.statusCode, code, problem.message);
}

/**
 * Splits the FunctionName path parameter into name and qualifier. Lambda
 * accepts a name, `name:qualifier`, a partial ARN `account:function:name`
 * and a full ARN, each optionally with `:qualifier`.
 */
export function parseFunctionName(raw: string): { name: string; qualifier?: string; account?: string; region?: string } {
  const full = /^arn:aws[a-z-]*:lambda:([a-z0-9-]+):(\d{12}):function:([^:]+)(?::([^:]+))?$/.exec(raw);
  if (full !== null) {
    return { region: full[1], account: full[2], name: full[3], qualifier: full[4] };
  }
  const partial = /^(\d{12}):function:([^:]+)(?::([^:]+))?$/.exec(raw);
  if (partial !== null) {
    return { account: partial[1], name: partial[2], qualifier: partial[3] };
  }
  const [name, qualifier, ...rest] = raw.split(':');
  if (rest.length > 0) {
    return { name: raw };
  }
  return { name, qualifier };
}

export async function handleInvoke(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  options: InvokeApiOptions,
): Promise<void> {
  const match = /^\/2015-03-31\/functions\/([^/]+)\/invocations\/?$/.exec(url.pathname);
  if (match === null) {
    lambdaError(
      res,
      404,
      'ResourceNotFoundException',
      `The local Lambda endpoint serves only POST ${INVOKE_PATH_PREFIX}${options.functionName}/invocations, not ${url.pathname.slice(0, 200)}.`,
    );
    return;
  }
  if (req.method !== 'POST') {
    lambdaError(res, 405, 'MethodNotAllowedException', `Use POST to invoke a function, not ${req.method}.`, {}, { Allow: 'POST' });
    return;
  }
  let rawName: string;
  try {
    rawName = decodeURIComponent(match[1]);
  } catch {
    rawName = match[1];
  }
  const parsed = parseFunctionName(rawName);
  const qualifier = parsed.qualifier ?? url.searchParams.get('Qualifier') ?? undefined;
  const arn = functionArn(options.functionName);
  const known =
    parsed.name === options.functionName &&
    (qualifier === undefined || qualifier === '$LATEST') &&
    (parsed.account === undefined || parsed.account === LOCAL_ACCOUNT_ID);
  if (!known) {
    const shown = `${functionArn(parsed.name.slice(0, 140))}${qualifier !== undefined ? `:${qualifier.slice(0, 128)}` : ''}`;
    lambdaError(
      res,
      404,
      'ResourceNotFoundException',
      `Function not found: ${shown}. The local server runs only ${arn} (version $LATEST).`,
    );
    return;
  }

  const invocationType = req.headers['x-amz-invocation-type'] ?? 'RequestResponse';
  if (invocationType !== 'RequestResponse' && invocationType !== 'DryRun') {
    lambdaError(
      res,
      400,
      'InvalidParameterValueException',
      `InvocationType ${String(invocationType).slice(0, 50)} is not supported by the local server; use RequestResponse (the default).`,
    );
    return;
  }
  const logType = req.headers['x-amz-log-type'] ?? 'None';
  if (logType !== 'None' && logType !== 'Tail') {
    lambdaError(res, 400, 'InvalidParameterValueException', `LogType must be None or Tail, not ${String(logType).slice(0, 50)}.`);
    return;
  }

  // Node joins a repeated header with ", ", which the pattern refuses, so one tenant id is all that gets through.
  const rawTenantId = req.headers['x-amz-tenant-id'];
  const tenantId = typeof rawTenantId === 'string' ? rawTenantId : undefined;
  if (tenantId !== undefined && !LAMBDA_TENANT_ID.test(tenantId)) {
    lambdaError(
      res,
      400,
      'InvalidParameterValueException',
      `X-Amz-Tenant-Id must be 1 to 256 characters of letters, digits, spaces and . _ : / = + - @, not '${tenantId.slice(0, 300)}'.`,
    );
    return;
  }
  try {
    options.pool.checkTenantId(tenantId);
  } catch (error) {
    if (!(error instanceof TenantIdError)) throw error;
    lambdaError(res, 400, 'InvalidParameterValueException', error.message);
    return;
  }

  const body = await readBody(req, { maxBytes: MAX_INVOKE_PAYLOAD_BYTES, timeoutMs: options.bodyTimeoutMs });
  if (body.kind === 'tooLarge') {
    finishEarly(req, res, options.bodyTimeoutMs);
    lambdaError(res, 413, 'RequestTooLargeException', `Request must be smaller than ${MAX_INVOKE_PAYLOAD_BYTES} bytes for the InvokeFunction operation.`);
    return;
  }
  if (body.kind === 'timeout') {
    finishEarly(req, res, 0);
    lambdaError(
      res,
      408,
      'RequestTimeoutException',
      `The request payload did not arrive within ${options.bodyTimeoutMs} ms; send the whole payload promptly.`,
      {},
      { Connection: 'close' },
    );
    return;
  }
  if (body.kind === 'aborted') {
    res.destroy();
    return;
  }

  // An absent payload invokes the function with an empty JSON object, as Lambda does.
  const payload = body.body.length === 0 ? Buffer.from('{}') : body.body;
  let text: string;
  try {
    text = strictUtf8.decode(payload);
    JSON.parse(text);
  } catch (error) {
    const reason = error instanceof SyntaxError ? error.message : 'the payload is not valid UTF-8';
    lambdaError(res, 400, 'InvalidRequestContentException', `Could not parse request body into json: ${reason.slice(0, 200)}.`);
    return;
  }

  if (invocationType === 'DryRun') {
    res.writeHead(204, { 'x-amzn-RequestId': randomUUID() });
    res.end();
    return;
  }

  const abort = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) {
      abort.abort();
    }
  });
  const clientContext = req.headers['x-amz-client-context'];
  try {
    const outcome = await options.pool.invoke({
      payload,
      clientContext: typeof clientContext === 'string' ? clientContext : undefined,
      tenantId,
      signal: abort.signal,
    });
    const headers: Record<string, string> = {
      'Content-Type': 'application/json',
      'Content-Length': String(outcome.payload.length),
      'X-Amz-Executed-Version': '$LATEST',
      'x-amzn-RequestId': randomUUID(),
    };
    if (outcome.kind === 'functionError') {
      headers['X-Amz-Function-Error'] = 'Unhandled';
    }
    if (logType === 'Tail') {
      headers['X-Amz-Log-Result'] = Buffer.from(outcome.logTail, 'utf8').toString('base64');
    }
    if (!res.destroyed) {
      res.writeHead(200, headers);
      res.end(outcome.payload);
    }
  } catch (error) {
    if (error instanceof QueueFullError) {
      lambdaError(
        res,
        429,
        'TooManyRequestsException',
        error.message,
        { Reason: 'ReservedFunctionConcurrentInvocationLimitExceeded', retryAfterSeconds: '1' },
        { 'Retry-After': '1' },
      );
    } else if (error instanceof PoolStoppedError) {
      lambdaError(res, 503, 'ServiceException', error.message);
    } else if (error instanceof InvocationCancelledError) {
      res.destroy();
    } else {
      lambdaError(res, 500, 'ServiceException', `The local Lambda emulator failed: ${(error as Error).message}`);
    }
  }
}
