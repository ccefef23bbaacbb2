/**
 * Turns an HTTP request into the event API Gateway (REST API, Lambda proxy
 * integration) would hand the invoker, and the handler's result back into an
 * HTTP response, so the local server runs the real handler unchanged.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';

const LOCAL_STAGE = 'local';
/**
 * The one caller of the local API, as API Gateway's IAM auth would name it:
 * whoever holds LOCAL_TOKEN (or reaches loopback) is this caller, and
 * X-Tenant-Id separates tenants within it, as it does for a deployed caller.
 */
export const LOCAL_CALLER_ARN = 'arn:aws:iam::000000000000:user/local';
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The API's resources; any other path reaches the handler as the catch-all resource. */
const RESOURCES = new Set(['/execute', '/healthz']);

interface ProxyEventInput {
  readonly req: IncomingMessage;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly body: Buffer;
  readonly requestId?: string;
}

/** Formats a date like API Gateway's requestTime: `22/Nov/2026:01:05:00 +0000`. */
export function apiGatewayRequestTime(date: Date): string {
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const pad = (value: number): string => String(value).padStart(2, '0');
  return (
    `${pad(date.getUTCDate())}/${months[date.getUTCMonth()]}/${date.getUTCFullYear()}:` +
    `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000`
  );
}

export function toProxyEvent(input: ProxyEventInput): APIGatewayProxyEvent {
  const { req, path, query, body } = input;
  const headers: Record<string, string> = {};
  const multiValueHeaders: Record<string, string[]> = {};
  // rawHeaders keeps the client's spelling and every repeated header, as API Gateway does.
  for (let index = 0; index + 1 < req.rawHeaders.length; index += 2) {
    const name = req.rawHeaders[index];
    const value = req.rawHeaders[index + 1];
    headers[name] = value;
    (multiValueHeaders[name] ??= []).push(value);
  }
  const queryStringParameters: Record<string, string> = {};
  const multiValueQueryStringParameters: Record<string, string[]> = {};
  for (const [name, value] of query) {
    queryStringParameters[name] = value;
    (multiValueQueryStringParameters[name] ??= []).push(value);
  }
  const hasQuery = Object.keys(queryStringParameters).length > 0;

  let eventBody: string | null = null;
  let isBase64Encoded = false;
  if (body.length > 0) {
    try {
      eventBody = strictUtf8.decode(body);
    } catch {
      // Bytes that are not UTF-8 cannot travel in a JSON string without loss.
      eventBody = body.toString('base64');
      isBase64Encoded = true;
    }
  }

  const resource = RESOURCES.has(path) ? path : '/{proxy+}';
  const now = new Date();
  const requestId = input.requestId ?? randomUUID();
  const method = req.method ?? 'GET';
  const sourceIp = req.socket.remoteAddress ?? '127.0.0.1';
  return {
    resource,
    path,
    httpMethod: method,
    headers,
    multiValueHeaders,
    queryStringParameters: hasQuery ? queryStringParameters : null,
    multiValueQueryStringParameters: hasQuery ? multiValueQueryStringParameters : null,
    pathParameters: resource === '/{proxy+}' ? { proxy: path.replace(/^\//, '') } : null,
    stageVariables: null,
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      authorizer: null,
      protocol: `HTTP/${req.httpVersion}`,
      httpMethod: method,
      identity: {
        accessKey: null,
        accountId: '000000000000',
        apiKey: null,
        apiKeyId: null,
        caller: 'local',
        clientCert: null,
        cognitoAuthenticationProvider: null,
        cognitoAuthenticationType: null,
        cognitoIdentityId: null,
        cognitoIdentityPoolId: null,
        principalOrgId: null,
        sourceIp: sourceIp.replace(/^::ffff:/, ''),
        user: 'local',
        userAgent: req.headers['user-agent'] ?? null,
        userArn: LOCAL_CALLER_ARN,
      },
      path: `/${LOCAL_STAGE}${path}`,
      stage: LOCAL_STAGE,
      requestId,
      requestTimeEpoch: now.getTime(),
      resourceId: 'local',
      resourcePath: resource,
      domainName: req.headers.host ?? '127.0.0.1',
      extendedRequestId: requestId,
      requestTime: apiGatewayRequestTime(now),
    } as APIGatewayProxyEvent['requestContext'],
    body: eventBody,
    isBase64Encoded,
  };
}

export function writeProxyResult(res: ServerResponse, result: APIGatewayProxyResult): void {
  const headers: Record<string, string | string[]> = {};
  // API Gateway sets the framing itself; a handler's own value would be wrong after decoding.
  const framing = (name: string): boolean => ['content-length', 'transfer-encoding', 'connection'].includes(name.toLowerCase());
  for (const [name, value] of Object.entries(result.headers ?? {})) {
    if (!framing(name)) headers[name] = String(value);
  }
  for (const [name, values] of Object.entries(result.multiValueHeaders ?? {})) {
    if (!framing(name)) headers[name] = values.map((value) => String(value));
  }
  const body = result.isBase64Encoded ? Buffer.from(result.body ?? '', 'base64') : Buffer.from(result.body ?? '', 'utf8');
  headers['Content-Length'] = String(body.length);
  res.writeHead(result.statusCode, headers);
  res.end(body);
}
