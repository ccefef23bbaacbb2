import * as apigw from 'aws-cdk-lib/aws-apigateway';
import { errorResponse, messages, STATUS_BY_ERROR_TYPE, type ErrorType } from '../contract';

/**
 * What API Gateway answers when it refuses or fails a request itself, before
 * or instead of the invoker: the contract's response JSON with the errorType
 * the README lists, never API Gateway's own `{"message": ...}` body.
 *
 * The types and their default status codes are those of "Gateway response
 * types for API Gateway" in the API Gateway developer guide. DEFAULT_4XX and
 * DEFAULT_5XX keep the status of the response they stand in for: setting a
 * status on them would change every other 4XX or 5XX response to it.
 * Templates are not run through VTL (x-amazon-apigateway-gateway-responses.
 * responseTemplates: "simple variable substitution" only), so each body is
 * fixed JSON with one substitution, the request id.
 */
interface GatewayResponseSpec {
  readonly type: apigw.ResponseType;
  /** undefined: the status of the response it replaces (DEFAULT_4XX/5XX). */
  readonly statusCode?: number;
  readonly errorType: ErrorType;
  readonly error: string;
}

/**
 * The substitution API Gateway fills in with its request id, the id the
 * invoker and the access log use too. Only static values are documented for
 * gateway response headers, so the id travels in the body alone.
 */
export const REQUEST_ID_VARIABLE = '$context.requestId';

export function gatewayResponseSpecs(limits: { readonly maxRequestBytes: number; readonly apiIntegrationTimeoutMs: number }): GatewayResponseSpec[] {
  const withStatus = (type: apigw.ResponseType, errorType: ErrorType, error: string): GatewayResponseSpec => ({
    type,
    statusCode: STATUS_BY_ERROR_TYPE[errorType],
    errorType,
    error,
  });
  return [
    { type: apigw.ResponseType.DEFAULT_4XX, errorType: 'InvalidRequest', error: messages.gatewayRefused },
    { type: apigw.ResponseType.DEFAULT_5XX, errorType: 'InternalError', error: messages.gatewayFault },
    // Unknown routes reach the invoker through the API's catch-all methods and
    // get its 404/405; this type is left for unsigned requests.
    withStatus(apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN, 'AccessDenied', messages.gatewayNotAuthenticated),
    withStatus(apigw.ResponseType.INVALID_SIGNATURE, 'AccessDenied', messages.gatewayBadSignature),
    withStatus(apigw.ResponseType.EXPIRED_TOKEN, 'AccessDenied', messages.gatewayExpiredCredentials),
    withStatus(apigw.ResponseType.ACCESS_DENIED, 'AccessDenied', messages.gatewayAccessDenied),
    withStatus(apigw.ResponseType.INVALID_API_KEY, 'AccessDenied', messages.gatewayInvalidApiKey),
    withStatus(apigw.ResponseType.RESOURCE_NOT_FOUND, 'NotFound', messages.gatewayNoRoute),
    withStatus(apigw.ResponseType.THROTTLED, 'Throttled', messages.gatewayThrottled),
    withStatus(apigw.ResponseType.QUOTA_EXCEEDED, 'Throttled', messages.gatewayQuotaExceeded),
    // The web ACL's only rule is a per-IP rate limit: its block is throttling.
    withStatus(apigw.ResponseType.WAF_FILTERED, 'Throttled', messages.gatewayWafBlocked),
    withStatus(apigw.ResponseType.REQUEST_TOO_LARGE, 'RequestTooLarge', messages.bodyTooLarge(limits.maxRequestBytes)),
    withStatus(apigw.ResponseType.UNSUPPORTED_MEDIA_TYPE, 'UnsupportedMediaType', messages.unsupportedMediaType),
    withStatus(apigw.ResponseType.INTEGRATION_TIMEOUT, 'ExecutorTimeout', messages.gatewayTimeout(limits.apiIntegrationTimeoutMs)),
  ];
}

/** The response body template: the contract's error response, with API Gateway's request id. */
function gatewayResponseTemplate(spec: GatewayResponseSpec): string {
  return JSON.stringify(errorResponse(spec.errorType, spec.error, REQUEST_ID_VARIABLE));
}

/**
 * Adds every gateway response to `api`. A gateway response cannot echo one of
 * several allowed origins back, so CORS headers are added only for a single
 * origin or '*'.
 */
export function addGatewayResponses(
  api: apigw.RestApi,
  specs: readonly GatewayResponseSpec[],
  allowedOrigins: readonly string[],
): void {
  const corsHeaders: Record<string, string> = allowedOrigins.length === 1 ? { 'Access-Control-Allow-Origin': `'${allowedOrigins[0]}'` } : {};
  for (const spec of specs) {
    api.addGatewayResponse(responseId(spec.type), {
      type: spec.type,
      statusCode: spec.statusCode === undefined ? undefined : String(spec.statusCode),
      responseHeaders: {
        'Content-Type': "'application/json'",
        'Cache-Control': "'no-store'",
        'X-Content-Type-Options': "'nosniff'",
        ...corsHeaders,
      },
      templates: { 'application/json': gatewayResponseTemplate(spec) },
    });
  }
}

/** DEFAULT_4XX -> Default4xx: a stable construct id per type. */
function responseId(type: apigw.ResponseType): string {
  return type.responseType
    .toLowerCase()
    .split('_')
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
    .join('');
}
