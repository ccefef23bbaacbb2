import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  CONTEXT_SETTINGS,
  ConfigurationError,
  configPropsFromContext,
  executorFunctionName,
  limitsToEnvironment,
  resolveConfig,
  RUNTIME_RESERVE_MIB,
  SecurePythonExecutorConfigProps,
  stackName,
} from '../../lib/config';
import { LIMITS_FILE } from '../../contract/limit-specs';
import { REPOSITORY_ROOT } from './helpers';

function errorOf(props: SecurePythonExecutorConfigProps): string {
  try {
    resolveConfig(props);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigurationError);
    return (error as Error).message;
  }
  throw new Error(`resolveConfig accepted ${JSON.stringify(props)}, but it should have been rejected.`);
}

describe('resolveConfig defaults', () => {
  const config = resolveConfig();

  it('uses the defaults of DESIGN section 6 for the stack', () => {
    expect(config).toMatchObject({
      memoryMiB: 256,
      timeoutSeconds: 30,
      reservedConcurrency: 0,
      architecture: 'x86_64',
      namePrefix: '',
      artifactRetentionDays: 1,
      logRetentionDays: 30,
      authMode: 'iam',
      tenancy: 'perTenant',
      enableWaf: false,
      apiRateLimitRps: 20,
      apiBurstLimitRequests: 40,
      corsAllowOrigin: '',
      sealKeyGeneration: 1,
    });
    expect(executorFunctionName(config)).toBe('workflow-python-executor');
    expect(stackName(config)).toBe('SecurePythonExecutor');
  });

  it('uses the limits the shared contract fixtures are written for', () => {
    const fixture = JSON.parse(fs.readFileSync(path.join(REPOSITORY_ROOT, 'contract', 'requests.json'), 'utf8')) as { limits: Record<string, number> };
    expect(config.limits).toMatchObject({
      maxScriptBytes: fixture.limits.maxScriptBytes,
      maxRequestBytes: fixture.limits.maxRequestBytes,
      minTimeoutMs: fixture.limits.minTimeoutMs,
      maxTimeoutMs: fixture.limits.maxTimeoutMs,
      defaultTimeoutMs: fixture.limits.defaultTimeoutMs,
    });
  });

  it('hands the executor every variable of contract/limits.json with its default, the worker memory derived from memoryMiB', () => {
    const contractDefaults = Object.fromEntries(
      LIMITS_FILE.limits.filter((record) => record.env !== null).map((record) => [record.env, String(record.default)]),
    );
    expect(limitsToEnvironment(config.limits)).toEqual({
      ...contractDefaults,
      EXECUTOR_WORKER_MEMORY_MIB: String(256 - RUNTIME_RESERVE_MIB),
      EXECUTOR_PRELOADS: 'numpy,pandas,matplotlib',
    });
  });

  it("derives the worker memory from memoryMiB, keeping the contract's runtime reserve as the executor does", () => {
    expect(RUNTIME_RESERVE_MIB).toBe(LIMITS_FILE.workerMemory.runtimeReserveMiB);
    expect(config.limits.workerMemoryMiB).toBe(256 - RUNTIME_RESERVE_MIB);
    expect(resolveConfig({ memoryMiB: 512 }).limits.workerMemoryMiB).toBe(512 - RUNTIME_RESERVE_MIB);
    expect(resolveConfig({ memoryMiB: 512, workerMemoryMiB: 300 }).limits.workerMemoryMiB).toBe(300);
  });

  it('prefixes the function and stack names', () => {
    const prefixed = resolveConfig({ namePrefix: 'team-a' });
    expect(executorFunctionName(prefixed)).toBe('team-a-workflow-python-executor');
    expect(stackName(prefixed)).toBe('team-a-secure-python-executor');
  });
});

describe('resolveConfig validation', () => {
  it('rejects a per-request maximum that leaves less than 2 s before the Lambda timeout, with the exact fix', () => {
    expect(errorOf({ maxRequestTimeoutMs: 28_001, apiIntegrationTimeoutMs: 60_000 })).toBe(
      'maxRequestTimeoutMs (28001) must leave at least 2000 ms below the Lambda timeout of 30 s: ' +
        'lower maxRequestTimeoutMs to 28000 or less, or raise timeoutSeconds to 31 or more.',
    );
    expect(errorOf({ timeoutSeconds: 10 })).toBe(
      'maxRequestTimeoutMs (25000) must leave at least 2000 ms below the Lambda timeout of 10 s: ' +
        'lower maxRequestTimeoutMs to 8000 or less, or raise timeoutSeconds to 27 or more.',
    );
    expect(resolveConfig({ maxRequestTimeoutMs: 28_000, apiIntegrationTimeoutMs: 31_000 }).limits.maxTimeoutMs).toBe(28_000);
    expect(resolveConfig({ timeoutSeconds: 10, maxRequestTimeoutMs: 8000, defaultRequestTimeoutMs: 5000 }).limits.maxTimeoutMs).toBe(8000);
  });

  it("rejects a per-request maximum that API Gateway's integration timeout cannot wait for, with the exact fix", () => {
    expect(errorOf({ maxRequestTimeoutMs: 26_001 })).toBe(
      "maxRequestTimeoutMs (26001) plus 3000 ms for the executor and invoker to answer must fit API Gateway's integration timeout " +
        'apiIntegrationTimeoutMs (29000), or the longest requests would end in a gateway timeout: lower maxRequestTimeoutMs to 26000 or less, ' +
        "or raise apiIntegrationTimeoutMs to 29001 (above 29000 only after AWS raised the region's integration timeout quota).",
    );
    expect(resolveConfig({ maxRequestTimeoutMs: 26_000 }).apiIntegrationTimeoutMs).toBe(29_000);
    expect(resolveConfig({ timeoutSeconds: 120, maxRequestTimeoutMs: 100_000, apiIntegrationTimeoutMs: 103_000 }).limits.maxTimeoutMs).toBe(100_000);
    expect(errorOf({ apiIntegrationTimeoutMs: 300_001 })).toContain('apiIntegrationTimeoutMs (300001) must be a whole number from 50 to 300000 ms');
    expect(errorOf({ apiIntegrationTimeoutMs: 49 })).toContain('apiIntegrationTimeoutMs (49) must be a whole number from 50 to 300000 ms');
  });

  it('accepts reserved concurrency 0, which reserves nothing', () => {
    expect(resolveConfig({ reservedConcurrency: 0 }).reservedConcurrency).toBe(0);
  });

  it('rejects a default timeout outside the accepted range', () => {
    expect(errorOf({ defaultRequestTimeoutMs: 26_000 })).toBe(
      'defaultRequestTimeoutMs (26000) must lie between minRequestTimeoutMs (100) and maxRequestTimeoutMs (25000): set -c defaultRequestTimeoutMs=<value> in that range.',
    );
    expect(errorOf({ minRequestTimeoutMs: 30_000, maxRequestTimeoutMs: 20_000 })).toContain('minRequestTimeoutMs (30000) must not exceed maxRequestTimeoutMs (20000)');
  });

  it.each<[string, SecurePythonExecutorConfigProps, string]>([
    ['memory below what the preloads need', { memoryMiB: 128 }, 'memoryMiB (128) must be a whole number from 256 to 10240 MiB'],
    ['a fractional memory size', { memoryMiB: 300.5 }, 'memoryMiB (300.5) must be a whole number'],
    ['a timeout above the Lambda maximum', { timeoutSeconds: 901 }, 'timeoutSeconds (901) must be a whole number from 3 to 900 s'],
    ['negative reserved concurrency', { reservedConcurrency: -1 }, 'reservedConcurrency (-1) must be a whole number from 0 to 10000 (0 reserves nothing; Lambda keeps 100 of the account concurrency unreserved'],
    ['an unknown architecture', { architecture: 'ppc64' as never }, "architecture ('ppc64') must be x86_64 or arm64"],
    ['a name prefix with upper case and underscores', { namePrefix: 'Dev_1' }, "namePrefix ('Dev_1') must be 1 to 20 lowercase letters"],
    ['a name prefix ending in a hyphen', { namePrefix: 'dev-' }, "namePrefix ('dev-')"],
    ['a retention CloudWatch Logs does not offer', { logRetentionDays: 31 }, 'logRetentionDays (31) is not a CloudWatch Logs retention period'],
    ['an open API', { authMode: 'none' as never }, "authMode ('none') must be iam or apiKey; the API is never open"],
    [
      'a tenancy Lambda does not have',
      { tenancy: 'perCaller' as never },
      "tenancy ('perCaller') must be perTenant or shared: set -c tenancy=perTenant to give each caller its own execution environments (the default), or -c tenancy=shared to let callers share them.",
    ],
    ['a CORS origin with a path', { corsAllowOrigin: 'https://app.example.com/path' }, "corsAllowOrigin ('https://app.example.com/path') must be empty, *"],
    ['a WAF limit below the WAF minimum', { wafRequestsPer5MinutesPerIp: 50 }, 'wafRequestsPer5MinutesPerIp (50) must be a whole number from 100'],
    ['a request limit whose proxy event may not fit Lambda', { maxRequestBytes: 1_006_934 }, 'maxRequestBytes (1006934) must be a whole number from 1024 to 1006933 bytes'],
    ['a script limit above the request limit', { maxScriptBytes: 1_000_001 }, 'maxScriptBytes (1000001) must not exceed maxRequestBytes (1000000)'],
    ['outputs that cannot fit one Lambda response', { maxResultBytes: 4 * 1024 * 1024, maxStdoutBytes: 1024 * 1024 }, 'maxResultBytes + maxStdoutBytes + maxStderrBytes (5345280) must stay within 5242880 bytes'],
    ['a worker larger than the function leaves room for', { workerMemoryMiB: 250 }, 'workerMemoryMiB (250) must be a whole number from 64 to 128 MiB'],
    ['a preload that is not a module name', { preloads: 'numpy,os;rm' }, "preloads contains 'os;rm', which is not a Python module name"],
    ['no artifacts at all', { maxArtifacts: 0 }, 'maxArtifacts (0) must be a whole number from 1 to 100'],
    ['a seal key generation of 0', { sealKeyGeneration: 0 }, 'sealKeyGeneration (0) must be a whole number from 1 to 1000000: set -c sealKeyGeneration=<value> in that range.'],
    ['a boundary given as an ARN', { permissionsBoundaryPolicyName: 'arn:aws:iam::123456789012:policy/b' }, "permissionsBoundaryPolicyName ('arn:aws:iam::123456789012:policy/b') is not an IAM policy name"],
  ])('rejects %s with a sentence naming the setting', (_name, props, expected) => {
    expect(errorOf(props)).toContain(expected);
  });

  it('takes every default from the settings table', () => {
    const explicit = Object.fromEntries(CONTEXT_SETTINGS.filter((setting) => setting.defaultValue !== undefined).map((setting) => [setting.key, setting.defaultValue]));
    expect(Object.keys(explicit).length).toBe(CONTEXT_SETTINGS.length - 1); // all but workerMemoryMiB, derived from memoryMiB
    expect(resolveConfig(explicit as SecurePythonExecutorConfigProps)).toEqual(resolveConfig());
  });

  it.each(CONTEXT_SETTINGS.filter((setting) => setting.max !== undefined).map((setting) => [setting.key, setting.min!, setting.max!]))(
    'refuses %s outside its table range %i to %i',
    (key, min, max) => {
      expect(errorOf({ [key]: max + 1 })).toContain(`${key} (${max + 1}) must be a whole number from ${min} to ${max}`);
      expect(errorOf({ [key]: min - 1 })).toContain(`${key} (${min - 1}) must be a whole number from ${min} to ${max}`);
    },
  );

  it.each(CONTEXT_SETTINGS.filter((setting) => setting.choices !== undefined).map((setting) => [setting.key]))(
    'refuses a value of %s outside its table choices',
    (key) => {
      expect(errorOf({ [key]: 'neither' } as SecurePythonExecutorConfigProps)).toMatch(new RegExp(`^${key} \\('neither'\\) must be `));
    },
  );

  it('reports every problem at once, one per line', () => {
    const lines = errorOf({ memoryMiB: 64, authMode: 'open' as never, logRetentionDays: 2 }).split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^memoryMiB \(64\)/);
  });

  it('accepts a list of CORS origins and the wildcard', () => {
    expect(resolveConfig({ corsAllowOrigin: 'https://a.example.com, http://localhost:3000' }).corsAllowOrigin).toBe('https://a.example.com, http://localhost:3000');
    expect(resolveConfig({ corsAllowOrigin: '*' }).corsAllowOrigin).toBe('*');
  });
});

describe('configPropsFromContext', () => {
  it('parses -c strings and cdk.json numbers and booleans', () => {
    const context: Record<string, unknown> = { memoryMiB: '512', timeoutSeconds: 60, enableWaf: 'true', authMode: 'apiKey', namePrefix: ' dev ' };
    expect(configPropsFromContext((key) => context[key])).toEqual({ memoryMiB: 512, timeoutSeconds: 60, enableWaf: true, authMode: 'apiKey', namePrefix: 'dev' });
  });

  it('rejects values of the wrong kind, naming the key and how to pass it', () => {
    const context: Record<string, unknown> = { memoryMiB: '512MB', enableWaf: 'yes' };
    expect(() => configPropsFromContext((key) => context[key])).toThrow(
      new ConfigurationError(
        "Context value memoryMiB must be a whole number, got '512MB': pass it like -c memoryMiB=256.\n" +
          "Context value enableWaf must be true or false, got 'yes': pass it like -c enableWaf=true.",
      ),
    );
  });

  it('reads every documented key into the configuration', () => {
    const nonDefaults: Record<string, string> = {
      memoryMiB: '1024', timeoutSeconds: '60', maxRequestTimeoutMs: '20000', defaultRequestTimeoutMs: '15000', minRequestTimeoutMs: '200',
      reservedConcurrency: '5', architecture: 'arm64', namePrefix: 'x', artifactRetentionDays: '2', logRetentionDays: '7', authMode: 'apiKey', tenancy: 'shared',
      enableWaf: 'true', wafRequestsPer5MinutesPerIp: '300', apiRateLimitRps: '7', apiBurstLimitRequests: '9', apiKeyDailyQuotaRequests: '99',
      corsAllowOrigin: '*', apiIntegrationTimeoutMs: '60000', apiGatewayCloudWatchRole: 'false', permissionsBoundaryPolicyName: 'boundary', sealKeyGeneration: '2', maxScriptBytes: '1000', maxRequestBytes: '500000', maxStdoutBytes: '2000', maxStderrBytes: '3000', maxResultBytes: '4000',
      maxArtifacts: '3', maxArtifactBytes: '5000', maxProcesses: '8', maxFileBytes: '6000', maxOpenFiles: '64', workerMemoryMiB: '100', preloads: 'numpy',
    };
    expect(Object.keys(nonDefaults).sort()).toEqual(CONTEXT_SETTINGS.map((setting) => setting.key).sort());
    const defaults = JSON.stringify(resolveConfig());
    for (const [key, value] of Object.entries(nonDefaults)) {
      // One key at a time, each valid on its own, so each must change the result.
      const changed = JSON.stringify(resolveConfig(configPropsFromContext((name) => (name === key ? value : undefined))));
      expect({ key, changed: changed !== defaults }).toEqual({ key, changed: true });
    }
  });
});

describe('bin/app.ts', () => {
  it('fails synth with the configuration sentence and exit code 1 when a setting is invalid', () => {
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'spe-app-'));
    const result = spawnSync(process.execPath, [path.join(REPOSITORY_ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'), path.join(REPOSITORY_ROOT, 'bin', 'app.ts')], {
      cwd: REPOSITORY_ROOT,
      env: { ...process.env, CDK_CONTEXT_JSON: JSON.stringify({ maxRequestTimeoutMs: '29000' }), CDK_OUTDIR: outdir },
      encoding: 'utf8',
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(
      'maxRequestTimeoutMs (29000) must leave at least 2000 ms below the Lambda timeout of 30 s: lower maxRequestTimeoutMs to 28000 or less, or raise timeoutSeconds to 31 or more.',
    );
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});
