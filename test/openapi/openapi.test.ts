import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { ERROR_TYPES, errorResponse, STATUS_BY_ERROR_TYPE, type ErrorType } from '../../contract';
import { OPENAPI_FILE, openApiText } from '../../scripts/generate-openapi';
import { expandGenerated, loadFixture, type RequestFixture, type StatusFixture } from '../contract/fixtures';

/*
 * contract/openapi.json is generated from the contract module; these tests
 * keep the committed file equal to the generator's output, check it with an
 * OpenAPI 3.1 validator, and check the contract's own fixtures against it
 * with a JSON Schema 2020-12 validator (OpenAPI 3.1's schema dialect).
 */

const run = promisify(execFile);
const DOC_ID = 'https://secure-python-executor.invalid/openapi.json';
const committed = JSON.parse(readFileSync(OPENAPI_FILE, 'utf8')) as Record<string, any>;

const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema({ ...committed, $id: DOC_ID });

function pointer(...segments: string[]): string {
  return segments.map((segment) => segment.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');
}

function schemaAt(...segments: string[]): ValidateFunction {
  return ajv.compile({ $ref: `${DOC_ID}#/${pointer(...segments)}` });
}

const requestSchema = schemaAt('components', 'schemas', 'ExecuteRequest');
const executeResponse = (status: number): ValidateFunction =>
  schemaAt('paths', '/execute', 'post', 'responses', String(status), 'content', 'application/json', 'schema');

/** Node runs the validator, because it is published as an ES module only. */
async function validateWithOpenApiValidator(document: unknown): Promise<{ valid: boolean; errors?: unknown }> {
  const script = `import { Validator } from '@seriousme/openapi-schema-validator';
    const result = await new Validator().validate(JSON.parse(process.env.OPENAPI_DOCUMENT));
    process.stdout.write(JSON.stringify(result));`;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
    cwd: `${__dirname}/../..`,
    env: { PATH: process.env.PATH ?? '', OPENAPI_DOCUMENT: JSON.stringify(document) },
  });
  return JSON.parse(stdout) as { valid: boolean; errors?: unknown };
}

/**
 * The request limits JSON Schema cannot state: it counts characters, not
 * UTF-8 bytes, cannot see lone surrogates, nesting depth or encoded size.
 * The service enforces them; the schema's descriptions name them.
 */
const BEYOND_JSON_SCHEMA = new Set([
  'script lone surrogate',
  'multibyte script over the size limit',
  'input nested too deeply',
  'input objects nested too deeply',
  'request over the body limit',
  'two faults: over the body limit and nested too deeply (size is checked first, as on the raw HTTP body)',
]);

describe('contract/openapi.json', () => {
  it('is exactly what scripts/generate-openapi.ts writes from the contract module (run `npm run openapi` after changing the contract)', () => {
    expect(readFileSync(OPENAPI_FILE, 'utf8')).toBe(openApiText());
  });

  it('is a valid OpenAPI 3.1 document', async () => {
    expect(committed.openapi).toBe('3.1.0');
    await expect(validateWithOpenApiValidator(committed)).resolves.toEqual({ valid: true });
  });

  it('would be caught by the validator if a response lost its description', async () => {
    const broken = JSON.parse(JSON.stringify(committed)) as Record<string, any>;
    delete broken.paths['/execute'].post.responses['200'].description;
    const result = await validateWithOpenApiValidator(broken);
    expect(result.valid).toBe(false);
  });

  it('describes both deployed auth modes and the local bearer token', () => {
    expect(committed.components.securitySchemes).toMatchObject({
      sigv4: { type: 'apiKey', in: 'header', name: 'Authorization', 'x-amazon-apigateway-authtype': 'awsSigv4' },
      apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' },
      localBearer: { type: 'http', scheme: 'bearer' },
    });
    expect(committed.security).toEqual([{ sigv4: [] }, { apiKey: [] }, { localBearer: [] }, {}]);
  });

  it('lists the errorTypes of contract/status.json, each under the HTTP status the fixture gives it', () => {
    const fixture = loadFixture<StatusFixture>('status.json');
    expect(committed.components.schemas.ErrorType.enum).toEqual(Object.keys(fixture.errorTypes));
    const responses = committed.paths['/execute'].post.responses as Record<string, any>;
    for (const [errorType, status] of Object.entries(fixture.errorTypes)) {
      const allowed = responses[String(status)].content['application/json'].schema.allOf[1].properties.errorType.enum as string[];
      expect({ errorType, listedUnder: allowed.includes(errorType) }).toEqual({ errorType, listedUnder: true });
    }
  });

  it('accepts the error response of every errorType under its own status and under no other error status', () => {
    const fixture = loadFixture<StatusFixture>('status.json');
    const statuses = [...new Set(Object.values(fixture.errorTypes))];
    for (const [errorType, status] of Object.entries(fixture.errorTypes)) {
      const body = errorResponse(errorType as ErrorType, 'A sentence.', 'req-1');
      const accepted = statuses.filter((candidate) => executeResponse(candidate)(body));
      expect({ errorType, accepted }).toEqual({ errorType, accepted: [status] });
    }
    expect(executeResponse(fixture.ok)(errorResponse('ScriptError', 'A sentence.', 'req-1'))).toBe(false);
  });

  it('accepts a completed execution with artifacts as the 200 answer', () => {
    const body = {
      ok: true,
      result: { a: 7 },
      stdout: 'hi\n',
      stderr: '',
      truncated: { stdout: false, stderr: false, artifacts: false },
      error: null,
      errorType: null,
      traceback: null,
      artifacts: [{ name: 'figure-1.png', contentType: 'image/png', size: 1234, url: 'http://127.0.0.1:3000/artifacts/req-1/figure-1.png' }],
      durationMs: 12,
      requestId: 'req-1',
    };
    expect(executeResponse(200)(body)).toBe(true);
    expect(executeResponse(200)({ ...body, requestId: undefined })).toBe(false);
  });

  describe('against contract/requests.json', () => {
    const fixture = loadFixture<RequestFixture>('requests.json');

    it('states the limits the fixture was written for', () => {
      const request = committed.components.schemas.ExecuteRequest;
      expect(request.properties.timeoutMs).toMatchObject({
        minimum: fixture.limits.minTimeoutMs,
        maximum: fixture.limits.maxTimeoutMs,
        default: fixture.limits.defaultTimeoutMs,
      });
      expect(request.properties.script.maxLength).toBe(fixture.limits.maxScriptBytes);
      expect(request.description).toContain(`at most ${fixture.limits.maxRequestBytes} bytes`);
      expect(request.description).toContain(`${fixture.limits.maxNestingDepth} levels deep`);
    });

    it.each(fixture.cases.filter((c) => c.valid).map((c) => [c.name, c] as const))('accepts the valid request: %s', (_name, testCase) => {
      const request = expandGenerated(testCase.request);
      expect(requestSchema(request)).toBe(true);
    });

    it.each(fixture.cases.filter((c) => !c.valid).map((c) => [c.name, c] as const))(
      'rejects the invalid request, or names the limit it cannot state: %s',
      (name, testCase) => {
        const request = expandGenerated(testCase.request);
        expect({ name, rejected: !requestSchema(request) }).toEqual({ name, rejected: !BEYOND_JSON_SCHEMA.has(name) });
      },
    );

    it.each(fixture.cases.filter((c) => !c.valid).map((c) => [c.name, c] as const))(
      'describes the answer to the invalid request under its status: %s',
      (_name, testCase) => {
        const body = errorResponse(testCase.errorType as ErrorType, testCase.error!, 'req-1');
        expect(executeResponse(testCase.status!)(body)).toBe(true);
      },
    );
  });

  it('covers every errorType of the contract module', () => {
    expect(Object.keys(STATUS_BY_ERROR_TYPE)).toEqual([...ERROR_TYPES]);
  });
});
