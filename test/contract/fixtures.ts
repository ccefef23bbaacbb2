import * as fs from 'node:fs';
import * as path from 'node:path';

/** Loads a fixture of contract/ as it is on disk, the same file the Python tests read. */
export function loadFixture<T>(name: string): T {
  return JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'contract', name), 'utf8')) as T;
}

/**
 * Expands the generated values of contract/requests.json as its description
 * defines them: {"$repeat": S, "times": N}, {"$nest": "list", "levels": N}
 * and {"$nest": "object", "levels": N, "key": K, "leaf": V}.
 */
export function expandGenerated(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(expandGenerated);
  if (value === null || typeof value !== 'object') return value;
  const spec = value as Record<string, unknown>;
  if (typeof spec.$repeat === 'string') {
    return spec.$repeat.repeat(spec.times as number);
  }
  if (spec.$nest === 'list') {
    let nested: unknown[] = [];
    for (let level = 1; level < (spec.levels as number); level += 1) nested = [nested];
    return nested;
  }
  if (spec.$nest === 'object') {
    let nested: unknown = expandGenerated(spec.leaf);
    for (let level = 0; level < (spec.levels as number); level += 1) nested = { [spec.key as string]: nested };
    return nested;
  }
  return Object.fromEntries(Object.entries(spec).map(([key, child]) => [key, expandGenerated(child)]));
}

export interface RequestCase {
  readonly name: string;
  readonly request: unknown;
  readonly valid?: true;
  readonly status?: number;
  readonly errorType?: string;
  readonly error?: string;
}

export interface RequestFixture {
  readonly limits: {
    readonly maxScriptBytes: number;
    readonly maxRequestBytes: number;
    readonly minTimeoutMs: number;
    readonly maxTimeoutMs: number;
    readonly defaultTimeoutMs: number;
    readonly maxNestingDepth: number;
  };
  readonly cases: readonly RequestCase[];
}

export interface StatusFixture {
  readonly ok: number;
  readonly errorTypes: Readonly<Record<string, number>>;
}

export interface TenantHeaderCase {
  readonly name: string;
  /** The header name as the client spells it; X-Tenant-Id when absent. */
  readonly header?: string;
  readonly values: readonly unknown[];
  readonly valid?: true;
  readonly tenantHeader?: unknown;
  readonly status?: number;
  readonly errorType?: string;
  readonly error?: string;
}

export interface TenantHeaderFixture {
  readonly maxChars: number;
  readonly cases: readonly TenantHeaderCase[];
}
