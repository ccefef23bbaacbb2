import { MAX_TENANT_HEADER_CHARS, RequestError, TENANT_HEADER, readTenantHeader } from '../../contract';
import { expandGenerated, loadFixture, type TenantHeaderCase, type TenantHeaderFixture } from './fixtures';

const fixture = loadFixture<TenantHeaderFixture>('tenant-header.json');

/** What the validator makes of the header as API Gateway hands it over: the value, or the refusal. */
function outcome(headers: Record<string, string>, multiValueHeaders?: Record<string, string[]>): unknown {
  try {
    return { valid: true, tenantHeader: readTenantHeader(headers, multiValueHeaders) ?? null };
  } catch (error) {
    expect(error).toBeInstanceOf(RequestError);
    const refused = error as RequestError;
    return { name: refused.name, status: refused.status, errorType: refused.errorType, error: refused.message };
  }
}

function expected(testCase: TenantHeaderCase): unknown {
  return testCase.valid
    ? { valid: true, tenantHeader: expandGenerated(testCase.tenantHeader) }
    : { name: 'RequestError', status: testCase.status, errorType: testCase.errorType, error: testCase.error };
}

const values = (testCase: TenantHeaderCase): string[] => testCase.values.map((value) => expandGenerated(value) as string);
const cases = fixture.cases.map((testCase) => [testCase.name, testCase] as const);

describe('contract/tenant-header.json against the TypeScript validator', () => {
  it('uses the same length limit as the contract module', () => {
    expect(fixture.maxChars).toBe(MAX_TENANT_HEADER_CHARS);
  });

  it.each(cases)('%s: the fixture outcome from API Gateway\'s headers and multiValueHeaders', (_name, testCase) => {
    const name = testCase.header ?? TENANT_HEADER;
    const all = values(testCase);
    // API Gateway's single-value map keeps the last value of a repeated header; the multi-value map keeps them all.
    const single = all.length === 0 ? {} : { [name]: all[all.length - 1]! };
    const multi = all.length === 0 ? {} : { [name]: all };
    expect(outcome(single, multi)).toEqual(expected(testCase));
  });

  // A repeated header cannot be told from the single-value map alone, so only the others are read that way.
  it.each(cases.filter(([, testCase]) => testCase.values.length <= 1))(
    '%s: the same outcome from the single-value map alone',
    (_name, testCase) => {
      const name = testCase.header ?? TENANT_HEADER;
      const all = values(testCase);
      expect(outcome(all.length === 0 ? {} : { [name]: all[0]! })).toEqual(expected(testCase));
    },
  );
});
