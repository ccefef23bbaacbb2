import { jsonMemberTexts } from '../../invoker/json-members';
import { encodeExecutorResponse, normalizeExecutorResponse } from '../../invoker/outcome';

/*
 * The HTTP body keeps the executor's own encoding of every member the invoker
 * does not change, so numbers arrive as Python wrote them.
 */

function encode(text: string, requestId = 'req-1'): string {
  const payload: unknown = JSON.parse(text);
  return encodeExecutorResponse(normalizeExecutorResponse(payload, requestId).response, payload, text);
}

const COMPLETE =
  '{"ok":true,"result":[1.0,-0.0,1e+16,123456789012345678901234567890],"stdout":"caf\u00e9 \\"}]\\\\","stderr":"","truncated":{"stdout":false,"stderr":false,"artifacts":false},' +
  '"error":null,"errorType":null,"traceback":null,"artifacts":[],"durationMs":2.0,"requestId":"req-1"}';

describe('jsonMemberTexts', () => {
  it('finds each member value as written, past strings that hold quotes, brackets and escapes', () => {
    const members = jsonMemberTexts(' { "a" : { "b": "}\\"]" , "c": [1.0, {"d": "\\\\"}] } ,\n"e":-1.50E+3,"f":true , "g" : null, "h": "x\\"y"}');
    expect(Object.fromEntries(members)).toEqual({
      a: '{ "b": "}\\"]" , "c": [1.0, {"d": "\\\\"}] }',
      e: '-1.50E+3',
      f: 'true',
      g: 'null',
      h: '"x\\"y"',
    });
  });

  it('keeps the last of a repeated key, as JSON.parse does', () => {
    expect(jsonMemberTexts('{"a":1,"a":2.0}').get('a')).toBe('2.0');
  });

  it('reads an empty object', () => {
    expect(jsonMemberTexts('{ }').size).toBe(0);
  });
});

describe('encodeExecutorResponse', () => {
  it('passes a complete answer through byte for byte', () => {
    expect(encode(COMPLETE)).toBe(COMPLETE);
  });

  it('re-encodes only what the invoker changed or added, keeping the result as written', () => {
    const fromExecutor = '{"ok":true, "result": 3.0, "stdout":"x", "requestId":"executor-side-id", "extra": 1}';
    expect(encode(fromExecutor, 'req-2')).toBe(
      '{"ok":true,"result":3.0,"stdout":"x","stderr":"","truncated":{"stdout":false,"stderr":false,"artifacts":false},' +
        '"error":null,"errorType":null,"traceback":null,"artifacts":[],"durationMs":0,"requestId":"req-2"}',
    );
  });

  it('replaces what a failure may not carry, as the normalized response says', () => {
    const failure = '{"ok":false,"result":7.0,"errorType":"NoSuchType","error":"x","requestId":"req-1"}';
    expect(JSON.parse(encode(failure))).toMatchObject({ result: null, errorType: 'InternalError' });
    expect(encode(failure)).not.toContain('7.0');
  });
});
