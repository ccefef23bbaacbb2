/**
 * Every sentence the API answers with, defined once so that the invoker, the
 * local server and the tests cannot drift apart. The validation sentences
 * mirror contract/requests.json and the Python executor word for word.
 */

export const ALLOWED_FIELDS = ['script', 'input', 'timeoutMs'] as const;

export const messages = {
  notAnObject: 'Request body must be a JSON object',
  scriptRequired: "'script' field is required",
  scriptNotString: "'script' must be a string",
  scriptEmpty: "'script' must not be empty",
  scriptNotUnicode: "'script' must be valid Unicode text",
  scriptTooLarge: (maxScriptBytes: number): string => `'script' must be at most ${maxScriptBytes} bytes of UTF-8`,
  timeoutNotInteger: "'timeoutMs' must be an integer",
  timeoutOutOfRange: (minTimeoutMs: number, maxTimeoutMs: number): string =>
    `'timeoutMs' must be between ${minTimeoutMs} and ${maxTimeoutMs} milliseconds`,
  unknownField: (field: string): string =>
    `Unknown field '${field}'; allowed fields are 'script', 'input' and 'timeoutMs'`,
  nestedTooDeeply: (maxNestingDepth: number): string =>
    `Request body must not be nested more than ${maxNestingDepth} levels deep`,
  bodyTooLarge: (maxRequestBytes: number): string => `Request body must be at most ${maxRequestBytes} bytes`,

  tenantHeaderRepeated: "Header 'X-Tenant-Id' must be sent at most once",
  tenantHeaderEmpty: "Header 'X-Tenant-Id' must not be empty; leave it out, or send 1 to 64 letters, digits, '.', '_' or '-'",
  tenantHeaderTooLong: (maxChars: number): string => `Header 'X-Tenant-Id' must be at most ${maxChars} characters`,
  tenantHeaderInvalid: "Header 'X-Tenant-Id' may contain only letters A-Z and a-z, digits, '.', '_' and '-'",
  noCallerIdentity: (field: string): string =>
    `The request carries no authenticated caller (${field}), so it cannot be given a tenant; call the API through its authenticated stage`,

  bodyEmpty: 'Request body is empty; send a JSON object such as {"script": "print(1)"}',
  bodyNotJson: 'Request body is not valid JSON',
  bodyNotUtf8: 'Request body is not valid UTF-8',
  unsupportedMediaType: 'Content-Type must be application/json',
  noRoute: (method: string, path: string): string =>
    `No route for ${method} ${path}; the API serves POST /execute, GET /healthz and POST /mcp`,
  methodNotAllowed: (method: string, path: string, allowed: readonly string[]): string =>
    `Method ${method} is not allowed on ${path}; use ${allowed.join(' or ')}`,

  throttled: 'Too many executions are running right now; retry after a short wait.',
  noCapacity: 'The executor has no capacity right now; retry after a short wait.',
  unreachable: 'The executor could not be reached; retry after a short wait, and check the service health at GET /healthz if it persists.',
  clientTimeout: (clientTimeoutMs: number): string =>
    `The executor did not answer within ${clientTimeoutMs} ms; lower 'timeoutMs' or do less work per request.`,
  executorTimedOut: 'The executor ran past its Lambda timeout and was stopped; lower \'timeoutMs\' or do less work per request.',
  executorDied: 'The executor process exited before it answered; the request was not completed. Retry, and report the requestId if it happens again.',
  responseTooLarge: 'The execution produced a response larger than Lambda allows (6 MB); return less data, print less, or write fewer or smaller artifacts.',
  executorFault: 'The executor failed with an internal error; the request was not completed. Retry, and report the requestId if it happens again.',
  executorNotFound: 'The executor function was not found; the deployment is incomplete or misconfigured.',
  executorAnswerUnverified:
    "The executor's answer failed its integrity check, so it was not used; the request was not completed. Retry, and report the requestId if it happens again.",
  executorInvalidResponse: 'The executor returned a response that does not follow the contract; the request was not completed. Report the requestId.',
  invokerMisconfigured: (reason: string): string => `The invoker is misconfigured: ${reason}`,
  internalFault: 'The service failed with an internal error; the request was not completed. Retry, and report the requestId if it happens again.',
  artifactsFailed: 'The execution finished but its artifacts could not be stored; retry, and report the requestId if it happens again.',

  // API Gateway's own answers (gateway responses): fixed text, since their
  // templates allow no logic, only $context variables.
  gatewayNotAuthenticated:
    'The request is not authenticated: sign it with SigV4 for the service execute-api (authMode iam), or send the API key in the x-api-key header (authMode apiKey).',
  gatewayBadSignature:
    'The request signature does not match: sign it with SigV4 for the service execute-api in the API\'s region, over the method, path, headers and body exactly as sent.',
  gatewayExpiredCredentials: 'The credentials the request was signed with have expired: sign it again with current credentials.',
  gatewayAccessDenied: 'The caller may not call this API: grant its IAM identity execute-api:Invoke on the API (arn:aws:execute-api:<region>:<account>:<api-id>/*).',
  gatewayInvalidApiKey: 'The API key is missing or not valid for this API: send the key of this deployment in the x-api-key header.',
  gatewayNoRoute: 'No such route: the API serves POST /execute, GET /healthz and POST /mcp under its stage URL (the stack output ApiUrl).',
  gatewayThrottled: 'Too many requests: the API\'s rate limit was reached; retry after a short wait.',
  gatewayQuotaExceeded: 'The API key\'s daily request quota is used up; retry tomorrow, or deploy with a higher apiKeyDailyQuotaRequests.',
  gatewayWafBlocked: 'Too many requests from this address: the API\'s web application firewall blocks it for a while; retry later.',
  gatewayTimeout: (integrationTimeoutMs: number): string =>
    `The executor did not answer within the API's ${integrationTimeoutMs} ms limit (a cold start adds seconds to the first request of a new execution environment); retry, or lower 'timeoutMs'.`,
  gatewayRefused:
    'API Gateway refused the request before it reached the service; check the method, the path under the stage URL, the headers and the body against the README.',
  gatewayFault:
    'API Gateway could not get an answer from the service (for example the request was too large for Lambda to accept, or the invoker could not run); retry, and report the requestId if it happens again.',
} as const;
