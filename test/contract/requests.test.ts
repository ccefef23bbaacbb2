import {
  DEFAULT_LIMITS,
  RequestError,
  compactJsonBytes,
  exceedsNestingDepth,
  parseExecuteBody,
  validateRequest,
} from '../../contract';
import { expandGenerated, loadFixture, type RequestFixture } from './fixtures';

const fixture = loadFixture<RequestFixture>('requests.json');
const limits = { ...DEFAULT_LIMITS, ...fixture.limits };

describe('contract/requests.json against the TypeScript validator', () => {
  it('uses the same limits as the contract defaults', () => {
    for (const [key, value] of Object.entries(fixture.limits)) {
      expect(DEFAULT_LIMITS[key as keyof typeof DEFAULT_LIMITS]).toBe(value);
    }
  });

  describe.each(fixture.cases.map((testCase) => [testCase.name, testCase] as const))('%s', (_name, testCase) => {
    const request = expandGenerated(testCase.request);

    it('validates the parsed value with the fixture outcome', () => {
      const result = validateRequest(request, limits);
      if (testCase.valid) {
        expect(result).toEqual({ ok: true, request });
      } else {
        expect(result).toEqual({
          ok: false,
          status: testCase.status,
          errorType: testCase.errorType,
          error: testCase.error,
        });
      }
    });

    it('gives the same outcome through the HTTP body parser', () => {
      // JSON.stringify escapes lone surrogates, so every case survives the trip as text.
      const body = JSON.stringify(request);
      const parse = () => parseExecuteBody({ body }, limits);
      if (testCase.valid) {
        expect(parse().request).toEqual(request);
        return;
      }
      let thrown: unknown;
      try {
        parse();
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(RequestError);
      const requestError = thrown as RequestError;
      expect(requestError.name).toBe('RequestError');
      expect([requestError.status, requestError.errorType, requestError.message]).toEqual([
        testCase.status,
        testCase.errorType,
        testCase.error,
      ]);
    });
  });
});

describe('validation details the fixtures imply', () => {
  it('reports a missing script before unknown fields, and the first unknown field in sorted order', () => {
    expect(validateRequest({ zz: 1, aa: 2 }, limits)).toMatchObject({ error: "'script' field is required" });
    expect(validateRequest({ zz: 1, aa: 2, script: 'pass' }, limits)).toMatchObject({
      error: "Unknown field 'aa'; allowed fields are 'script', 'input' and 'timeoutMs'",
    });
  });

  it('checks nesting before size, so a huge deep value gets the depth sentence', () => {
    let deep: unknown = [];
    for (let level = 0; level < 200_000; level += 1) deep = [deep];
    expect(validateRequest({ script: 'pass', input: deep }, limits)).toMatchObject({
      status: 400,
      error: 'Request body must not be nested more than 64 levels deep',
    });
  });

  it('counts the request object as level 1 and empty containers as a level', () => {
    expect(exceedsNestingDepth({}, 1)).toBe(false);
    expect(exceedsNestingDepth({ a: {} }, 1)).toBe(true);
    expect(exceedsNestingDepth({ a: [1, 'x', null] }, 2)).toBe(false);
    expect(exceedsNestingDepth({ a: [1, [2]] }, 2)).toBe(true);
  });

  it('measures the request as compact UTF-8 JSON', () => {
    expect(compactJsonBytes({ script: 'é' })).toBe('{"script":"é"}'.length + 1);
  });

  it('treats the whitespace Python strips as empty and keeps a BOM-only script', () => {
    expect(validateRequest({ script: '\u001c\u0085\u3000' }, limits)).toMatchObject({ error: "'script' must not be empty" });
    expect(validateRequest({ script: '\ufeff' }, limits)).toMatchObject({ ok: true });
  });

  it('accepts a script whose astral characters are correctly paired surrogates', () => {
    expect(validateRequest({ script: "print('😀')" }, limits)).toMatchObject({ ok: true });
  });

  it('keeps input and timeoutMs in the validated request and drops nothing else', () => {
    expect(validateRequest({ script: 'pass', input: [1], timeoutMs: 250 }, limits)).toEqual({
      ok: true,
      request: { script: 'pass', input: [1], timeoutMs: 250 },
    });
  });
});
