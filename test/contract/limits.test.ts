import { DEFAULT_LIMITS, LIMIT_SPECS, LIMIT_UNITS, MAX_NESTING_DEPTH, type ContractLimits } from '../../contract';
import { loadFixture } from './fixtures';

interface RawLimits {
  readonly description: unknown;
  readonly limits: readonly Record<string, unknown>[];
  readonly workerMemory: Record<string, unknown>;
  readonly preloads: { readonly env: unknown; readonly default: readonly string[]; readonly meaning: unknown };
}

const file = loadFixture<RawLimits>('limits.json');

/** Every key of ContractLimits: the compiler rejects this object when the interface gains or loses one. */
const CONTRACT_KEYS: Record<keyof ContractLimits, true> = {
  defaultTimeoutMs: true,
  minTimeoutMs: true,
  maxTimeoutMs: true,
  maxScriptBytes: true,
  maxRequestBytes: true,
  maxStdoutBytes: true,
  maxStderrBytes: true,
  maxResultBytes: true,
  maxArtifacts: true,
  maxArtifactBytes: true,
  maxProcesses: true,
  maxFileBytes: true,
  workerMemoryMiB: true,
  maxOpenFiles: true,
  maxNestingDepth: true,
};

const isPositiveInteger = (value: unknown): boolean => Number.isSafeInteger(value) && (value as number) > 0;

describe('contract/limits.json', () => {
  it('describes itself, like the other contract files', () => {
    expect(typeof file.description).toBe('string');
    expect(file.description).not.toBe('');
  });

  it('has one record for every key of ContractLimits, and no other', () => {
    const keys = file.limits.map((record) => record.key);
    expect([...keys].sort()).toEqual(Object.keys(CONTRACT_KEYS).sort());
    expect(new Set(keys).size).toBe(keys.length);
  });

  it.each(file.limits.map((record) => [record.key, record]))('gives %s exactly a key, a variable, a default, a unit and a meaning', (_key, record) => {
    expect(Object.keys(record).sort()).toEqual(['default', 'env', 'key', 'meaning', 'unit']);
    expect(isPositiveInteger(record.default)).toBe(true);
    expect(LIMIT_UNITS).toContain(record.unit);
    expect(typeof record.meaning).toBe('string');
    expect((record.meaning as string).trim()).not.toBe('');
  });

  it('gives the executor\'s default preloads as Python module names, with their variable and meaning', () => {
    expect(Object.keys(file.preloads).sort()).toEqual(['default', 'env', 'meaning']);
    expect(file.preloads.env).toBe('EXECUTOR_PRELOADS');
    expect(file.preloads.default.length).toBeGreaterThan(0);
    for (const name of file.preloads.default) expect(name).toMatch(/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/);
  });

  it.each(file.limits.filter((record) => record.key !== 'maxNestingDepth').map((record) => [record.key, record.env]))(
    'names the variable of %s after the key, EXECUTOR_ and the key in capitals',
    (key, env) => {
      // MiB is one word: workerMemoryMiB is WORKER_MEMORY_MIB, as the executor spells it.
      const screaming = (key as string).replace(/MiB$/, 'Mib').replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
      expect(env).toBe(`EXECUTOR_${screaming}`);
    },
  );

  it('gives the nesting depth no variable, because the executor parser bounds it', () => {
    expect(file.limits.find((record) => record.key === 'maxNestingDepth')?.env).toBeNull();
  });

  it('keeps a positive runtime reserve and worker minimum, a reserve that leaves the smallest function (256 MiB) at least the minimum', () => {
    const { runtimeReserveMiB, minimumMiB } = file.workerMemory;
    expect(isPositiveInteger(runtimeReserveMiB)).toBe(true);
    expect(isPositiveInteger(minimumMiB)).toBe(true);
    expect(256 - (runtimeReserveMiB as number)).toBeGreaterThanOrEqual(minimumMiB as number);
  });

  it('is what the contract module serves: every record, its default and its meaning', () => {
    for (const record of file.limits) {
      expect(DEFAULT_LIMITS[record.key as keyof ContractLimits]).toBe(record.default);
      if (record.env === null) continue;
      expect(LIMIT_SPECS[record.key as keyof typeof LIMIT_SPECS]).toEqual({ env: record.env, defaultValue: record.default, description: record.meaning });
    }
    expect(MAX_NESTING_DEPTH).toBe(file.limits.find((record) => record.key === 'maxNestingDepth')?.default);
  });
});
