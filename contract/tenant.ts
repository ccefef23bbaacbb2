import { RequestError } from './errors';
import { messages } from './messages';
import { statusForErrorType } from './status';

/**
 * Tenants (README, "Tenants"): the executor's execution environments are
 * dedicated to one tenant each. The invoker derives the tenant from the
 * authenticated caller; this optional header lets a platform separate its
 * own end users within its caller identity.
 */
export const TENANT_HEADER = 'X-Tenant-Id';
export const MAX_TENANT_HEADER_CHARS = 64;
const TENANT_HEADER_CHARACTERS = /^[A-Za-z0-9._-]+$/;

/** `perTenant`: each tenant gets its own execution environments (Lambda tenant isolation mode). `shared`: environments serve every caller. */
export const TENANCY_MODES = ['perTenant', 'shared'] as const;
export type Tenancy = (typeof TENANCY_MODES)[number];

/** How API Gateway authenticates callers, and so where the invoker finds the caller a tenant belongs to. */
export const AUTH_MODES = ['iam', 'apiKey'] as const;
export type AuthMode = (typeof AUTH_MODES)[number];

export function isTenancy(value: unknown): value is Tenancy {
  return typeof value === 'string' && (TENANCY_MODES as readonly string[]).includes(value);
}

function invalid(message: string): RequestError {
  return new RequestError(statusForErrorType('InvalidRequest'), 'InvalidRequest', message);
}

/** Every value of a header, from API Gateway's single- and multi-value maps, matched case-insensitively. */
function headerValues(
  headers: Readonly<Record<string, string | undefined>> | null | undefined,
  multiValueHeaders: Readonly<Record<string, readonly string[] | undefined>> | null | undefined,
  name: string,
): string[] {
  const wanted = name.toLowerCase();
  const values: string[] = [];
  for (const [key, list] of Object.entries(multiValueHeaders ?? {})) {
    if (key.toLowerCase() === wanted && list !== undefined) values.push(...list);
  }
  if (values.length > 0) return values;
  for (const [key, value] of Object.entries(headers ?? {})) {
    if (key.toLowerCase() === wanted && value !== undefined) values.push(value);
  }
  return values;
}

/**
 * The caller's `X-Tenant-Id`, or undefined when it sent none. Throws a 400
 * {@link RequestError} for a value outside 1 to 64 characters of
 * `[A-Za-z0-9._-]`, and for a header sent more than once: a header that
 * silently meant something other than what was sent would put work in an
 * environment the caller did not choose.
 */
export function readTenantHeader(
  headers: Readonly<Record<string, string | undefined>> | null | undefined,
  multiValueHeaders?: Readonly<Record<string, readonly string[] | undefined>> | null,
): string | undefined {
  const values = headerValues(headers, multiValueHeaders, TENANT_HEADER);
  if (values.length === 0) return undefined;
  if (values.length > 1) throw invalid(messages.tenantHeaderRepeated);
  const value = values[0]!;
  if (value === '') throw invalid(messages.tenantHeaderEmpty);
  if (value.length > MAX_TENANT_HEADER_CHARS) throw invalid(messages.tenantHeaderTooLong(MAX_TENANT_HEADER_CHARS));
  if (!TENANT_HEADER_CHARACTERS.test(value)) throw invalid(messages.tenantHeaderInvalid);
  return value;
}
