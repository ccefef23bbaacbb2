import { messages } from '../../contract';

/*
 * The exact sentences of the API, pinned. The README quotes them and clients
 * may match on them, so a change of wording must be a deliberate change here.
 */

describe('API sentences', () => {
  it.each([
    ['notAnObject', messages.notAnObject, 'Request body must be a JSON object'],
    ['scriptRequired', messages.scriptRequired, "'script' field is required"],
    ['scriptNotString', messages.scriptNotString, "'script' must be a string"],
    ['scriptEmpty', messages.scriptEmpty, "'script' must not be empty"],
    ['scriptNotUnicode', messages.scriptNotUnicode, "'script' must be valid Unicode text"],
    ['scriptTooLarge', messages.scriptTooLarge(65_536), "'script' must be at most 65536 bytes of UTF-8"],
    ['timeoutNotInteger', messages.timeoutNotInteger, "'timeoutMs' must be an integer"],
    ['timeoutOutOfRange', messages.timeoutOutOfRange(100, 25_000), "'timeoutMs' must be between 100 and 25000 milliseconds"],
    ['unknownField', messages.unknownField('scrpt'), "Unknown field 'scrpt'; allowed fields are 'script', 'input' and 'timeoutMs'"],
    ['nestedTooDeeply', messages.nestedTooDeeply(64), 'Request body must not be nested more than 64 levels deep'],
    ['bodyTooLarge', messages.bodyTooLarge(1_000_000), 'Request body must be at most 1000000 bytes'],
    ['bodyEmpty', messages.bodyEmpty, 'Request body is empty; send a JSON object such as {"script": "print(1)"}'],
    ['bodyNotJson', messages.bodyNotJson, 'Request body is not valid JSON'],
    ['bodyNotUtf8', messages.bodyNotUtf8, 'Request body is not valid UTF-8'],
    ['unsupportedMediaType', messages.unsupportedMediaType, 'Content-Type must be application/json'],
    ['noRoute', messages.noRoute('GET', '/foo'), 'No route for GET /foo; the API serves POST /execute, GET /healthz and POST /mcp'],
    ['methodNotAllowed', messages.methodNotAllowed('GET', '/execute', ['POST']), 'Method GET is not allowed on /execute; use POST'],
    ['throttled', messages.throttled, 'Too many executions are running right now; retry after a short wait.'],
    ['noCapacity', messages.noCapacity, 'The executor has no capacity right now; retry after a short wait.'],
    ['unreachable', messages.unreachable, 'The executor could not be reached; retry after a short wait, and check the service health at GET /healthz if it persists.'],
    ['clientTimeout', messages.clientTimeout(30_000), "The executor did not answer within 30000 ms; lower 'timeoutMs' or do less work per request."],
    ['executorTimedOut', messages.executorTimedOut, "The executor ran past its Lambda timeout and was stopped; lower 'timeoutMs' or do less work per request."],
    ['executorDied', messages.executorDied, 'The executor process exited before it answered; the request was not completed. Retry, and report the requestId if it happens again.'],
    ['responseTooLarge', messages.responseTooLarge, 'The execution produced a response larger than Lambda allows (6 MB); return less data, print less, or write fewer or smaller artifacts.'],
    ['executorFault', messages.executorFault, 'The executor failed with an internal error; the request was not completed. Retry, and report the requestId if it happens again.'],
    ['executorNotFound', messages.executorNotFound, 'The executor function was not found; the deployment is incomplete or misconfigured.'],
    [
      'executorAnswerUnverified',
      messages.executorAnswerUnverified,
      "The executor's answer failed its integrity check, so it was not used; the request was not completed. Retry, and report the requestId if it happens again.",
    ],
    ['executorInvalidResponse', messages.executorInvalidResponse, 'The executor returned a response that does not follow the contract; the request was not completed. Report the requestId.'],
    ['invokerMisconfigured', messages.invokerMisconfigured('X must be set.'), 'The invoker is misconfigured: X must be set.'],
    ['internalFault', messages.internalFault, 'The service failed with an internal error; the request was not completed. Retry, and report the requestId if it happens again.'],
    ['artifactsFailed', messages.artifactsFailed, 'The execution finished but its artifacts could not be stored; retry, and report the requestId if it happens again.'],
    ['tenantHeaderRepeated', messages.tenantHeaderRepeated, "Header 'X-Tenant-Id' must be sent at most once"],
    ['tenantHeaderEmpty', messages.tenantHeaderEmpty, "Header 'X-Tenant-Id' must not be empty; leave it out, or send 1 to 64 letters, digits, '.', '_' or '-'"],
    ['tenantHeaderTooLong', messages.tenantHeaderTooLong(64), "Header 'X-Tenant-Id' must be at most 64 characters"],
    ['tenantHeaderInvalid', messages.tenantHeaderInvalid, "Header 'X-Tenant-Id' may contain only letters A-Z and a-z, digits, '.', '_' and '-'"],
    [
      'noCallerIdentity',
      messages.noCallerIdentity('requestContext.identity.userArn'),
      'The request carries no authenticated caller (requestContext.identity.userArn), so it cannot be given a tenant; call the API through its authenticated stage',
    ],
    ['gatewayNotAuthenticated', messages.gatewayNotAuthenticated, 'The request is not authenticated: sign it with SigV4 for the service execute-api (authMode iam), or send the API key in the x-api-key header (authMode apiKey).'],
    ['gatewayBadSignature', messages.gatewayBadSignature, "The request signature does not match: sign it with SigV4 for the service execute-api in the API's region, over the method, path, headers and body exactly as sent."],
    ['gatewayExpiredCredentials', messages.gatewayExpiredCredentials, 'The credentials the request was signed with have expired: sign it again with current credentials.'],
    ['gatewayAccessDenied', messages.gatewayAccessDenied, 'The caller may not call this API: grant its IAM identity execute-api:Invoke on the API (arn:aws:execute-api:<region>:<account>:<api-id>/*).'],
    ['gatewayInvalidApiKey', messages.gatewayInvalidApiKey, 'The API key is missing or not valid for this API: send the key of this deployment in the x-api-key header.'],
    ['gatewayNoRoute', messages.gatewayNoRoute, 'No such route: the API serves POST /execute, GET /healthz and POST /mcp under its stage URL (the stack output ApiUrl).'],
    ['gatewayThrottled', messages.gatewayThrottled, "Too many requests: the API's rate limit was reached; retry after a short wait."],
    ['gatewayQuotaExceeded', messages.gatewayQuotaExceeded, "The API key's daily request quota is used up; retry tomorrow, or deploy with a higher apiKeyDailyQuotaRequests."],
    ['gatewayWafBlocked', messages.gatewayWafBlocked, "Too many requests from this address: the API's web application firewall blocks it for a while; retry later."],
    ['gatewayTimeout', messages.gatewayTimeout(29_000), "The executor did not answer within the API's 29000 ms limit (a cold start adds seconds to the first request of a new execution environment); retry, or lower 'timeoutMs'."],
    ['gatewayRefused', messages.gatewayRefused, 'API Gateway refused the request before it reached the service; check the method, the path under the stage URL, the headers and the body against the README.'],
    ['gatewayFault', messages.gatewayFault, 'API Gateway could not get an answer from the service (for example the request was too large for Lambda to accept, or the invoker could not run); retry, and report the requestId if it happens again.'],
  ])('%s', (_name, actual, expected) => {
    expect(actual).toBe(expected);
  });

  it('pins every sentence of the catalogue', () => {
    expect(Object.keys(messages)).toHaveLength(48);
  });
});
