import { createHash } from 'node:crypto';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { RequestError, messages, readTenantHeader, statusForErrorType, type AuthMode, type Tenancy } from '../contract';

/**
 * Hex characters of the caller's SHA-256 kept in a tenant id: 96 bits. A
 * caller who can choose its own identity (an assumed-role session name, for
 * one) would need about 2^96 tries to land on another caller's prefix.
 */
export const CALLER_HASH_HEX_CHARS = 24;

export interface TenantAssignment {
  /** The effective tenant id: the caller's hash, then `:` and the X-Tenant-Id header when one was sent. */
  readonly tenantId: string;
  /** What Invoke carries as TenantId: the tenant id with tenancy perTenant, nothing with shared. */
  readonly invokeTenantId: string | undefined;
}

/** Where API Gateway puts the authenticated caller in each mode. */
const CALLER_FIELD: Readonly<Record<AuthMode, 'userArn' | 'apiKeyId'>> = { iam: 'userArn', apiKey: 'apiKeyId' };

/**
 * The authenticated caller as API Gateway vouches for it: the IAM identity's
 * ARN with SigV4, the API key's id (never its value) with API keys. Nothing a
 * caller sends in the request itself takes part.
 */
function callerIdentity(event: Pick<APIGatewayProxyEvent, 'requestContext'>, authMode: AuthMode): string {
  const field = CALLER_FIELD[authMode];
  const value: unknown = event.requestContext?.identity?.[field];
  if (typeof value !== 'string' || value === '') {
    throw new RequestError(statusForErrorType('AccessDenied'), 'AccessDenied', messages.noCallerIdentity(`requestContext.identity.${field}`));
  }
  return value;
}

/**
 * The tenant id of a caller and its optional header. The caller part is a
 * hash, so the id can be logged and passed to Lambda without the raw ARN,
 * and the auth mode is hashed in so an API key id can never equal an ARN's
 * tenant. The header only ever extends the caller's own prefix, so no header
 * value reaches another caller's environments.
 */
export function tenantIdFor(authMode: AuthMode, caller: string, tenantHeader: string | undefined): string {
  const callerHash = createHash('sha256').update(`${authMode}\n${caller}`).digest('hex').slice(0, CALLER_HASH_HEX_CHARS);
  return tenantHeader === undefined ? callerHash : `${callerHash}:${tenantHeader}`;
}

/** The tenant of one API request; throws RequestError (400 bad header, 403 no caller). */
export function assignTenant(
  event: Pick<APIGatewayProxyEvent, 'requestContext' | 'headers' | 'multiValueHeaders'>,
  settings: { readonly authMode: AuthMode; readonly tenancy: Tenancy },
): TenantAssignment {
  // The header is validated in both modes: with tenancy shared it still names the tenant in the log line.
  const tenantHeader = readTenantHeader(event.headers, event.multiValueHeaders);
  const tenantId = tenantIdFor(settings.authMode, callerIdentity(event, settings.authMode), tenantHeader);
  return { tenantId, invokeTenantId: settings.tenancy === 'perTenant' ? tenantId : undefined };
}
