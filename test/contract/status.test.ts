import {
  ERROR_TYPES,
  STATUS_BY_ERROR_TYPE,
  statusForErrorType,
  statusForOutcome,
} from '../../contract';
import { loadFixture, type StatusFixture } from './fixtures';

const fixture = loadFixture<StatusFixture>('status.json');

describe('contract/status.json against the TypeScript mapping', () => {
  it.each(Object.entries(fixture.errorTypes))('maps %s to %i', (errorType, status) => {
    expect(statusForErrorType(errorType)).toBe(status);
    expect(statusForOutcome({ ok: false, errorType })).toBe(status);
  });

  it('knows exactly the errorTypes of the fixture', () => {
    expect([...ERROR_TYPES].sort()).toEqual(Object.keys(fixture.errorTypes).sort());
    expect(Object.keys(STATUS_BY_ERROR_TYPE).sort()).toEqual(Object.keys(fixture.errorTypes).sort());
  });

  it('answers a completed execution with the fixture ok status', () => {
    expect(statusForOutcome({ ok: true, errorType: null })).toBe(fixture.ok);
  });

  it('never answers a script failure with a 5xx', () => {
    for (const errorType of ['ScriptError', 'Timeout', 'MemoryLimit', 'OutputLimit', 'ResultNotSerializable', 'ResultTooLarge', 'PolicyViolation']) {
      expect(statusForErrorType(errorType)).toBe(422);
    }
  });

  it('treats an errorType outside the contract, or a failure without one, as an executor fault', () => {
    expect(statusForErrorType('SomethingNew')).toBe(500);
    expect(statusForErrorType('__proto__')).toBe(500);
    expect(statusForOutcome({ ok: false })).toBe(500);
    expect(statusForOutcome({ ok: false, errorType: null })).toBe(500);
  });
});
