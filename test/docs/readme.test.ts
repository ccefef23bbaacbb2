/**
 * The README is part of the product: these checks tie its tables and quick
 * start to the code they describe, so a new setting, error type or changed
 * default cannot land without the README saying so.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONTEXT_SETTINGS } from '../../lib/config';
import { generatedSection } from '../../lib/settings';
import { README_TABLES } from '../../scripts/readme-tables';
import { LIMIT_SPECS, LIMITS_FILE, MAX_NESTING_DEPTH, TIMING_BUDGET, MAX_TENANT_HEADER_CHARS, messages, TENANT_HEADER, type LimitRecord } from '../../contract';
import { CALLER_HASH_HEX_CHARS } from '../../invoker/tenant';
import { TENANT_ID_MISMATCH } from '../../local/runtime-pool';

const ROOT = join(__dirname, '..', '..');
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
const status = JSON.parse(readFileSync(join(ROOT, 'contract', 'status.json'), 'utf8')) as {
  errorTypes: Record<string, number>;
};

/** Rows of every Markdown table in `text`, backticks removed: first cell -> the other cells. */
function tableRows(text: string = readme): Map<string, string[][]> {
  const rows = new Map<string, string[][]>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('| ') || line.startsWith('|---')) continue;
    const cells = line.split(' | ').map((cell) => cell.replace(/^\|? ?|\s?\|$/g, '').replace(/`/g, '').trim());
    const key = cells[0];
    rows.set(key, [...(rows.get(key) ?? []), cells.slice(1)]);
  }
  return rows;
}

/** The README's section under `heading`, up to the next heading of its level. */
function section(heading: string): string {
  const start = readme.indexOf(`\n${heading}\n`);
  expect(start).toBeGreaterThanOrEqual(0);
  const level = heading.split(' ')[0];
  const end = readme.indexOf(`\n${level} `, start + heading.length + 1);
  return readme.slice(start, end === -1 ? undefined : end);
}

const limitRecord = (key: string): LimitRecord => LIMITS_FILE.limits.find((record) => record.key === key)!;

/** A limit's default as the README writes it for people: 10 s, 64 KiB, 1 MiB, 1,000,000 bytes. */
function forPeople(record: LimitRecord): string {
  const value = record.default;
  if (record.unit === 'ms' && value % 1000 === 0) return `${value / 1000} s`;
  if (record.unit === 'bytes' && value % (1024 * 1024) === 0) return `${value / (1024 * 1024)} MiB`;
  if (record.unit === 'bytes' && value % 1024 === 0) return `${value / 1024} KiB`;
  if (record.unit === 'bytes') return `${value.toLocaleString('en-US')} bytes`;
  return String(value);
}

/** A meaning as a table shows it: the code quotes 'timeoutMs', Markdown writes it in backticks. */
const unquoted = (text: string): string => text.replace(/['`]/g, '');

describe('README', () => {
  const rows = tableRows();

  it('starts with the two commands of the quick start', () => {
    expect(readme).toMatch(/^npm ci && npm start\b/m);
    expect(readme).toMatch(/^npm test\b/m);
  });

  it('shows the quick-start curl and aws commands exactly as `npm start` prints them', () => {
    const url = 'http://127.0.0.1:3000';
    expect(readme).toContain(
      `curl -s ${url}/execute -H 'Content-Type: application/json' -d '{"script": "def main(input):\\n    return input * 2", "input": 21}'`,
    );
    expect(readme).toContain(`aws lambda invoke --endpoint-url ${url} --function-name workflow-python-executor --tenant-id demo \\`);
    expect(readme).toContain(`--cli-binary-format raw-in-base64-out --payload '{"script": "print(6 * 7)"}' --no-cli-pager out.json && cat out.json`);
  });

  it('describes the tenant id and the X-Tenant-Id header with the numbers the code uses', () => {
    expect(readme).toContain(`the first ${CALLER_HASH_HEX_CHARS} hex characters of SHA-256 over the auth`);
    expect(readme).toContain(`| \`${TENANT_HEADER}\` | optional, on \`POST /execute\` and \`GET /healthz\`: 1 to ${MAX_TENANT_HEADER_CHARS} characters of`);
    expect(readme).toContain(messages.tenantHeaderInvalid);
    expect(readme).toContain(TENANT_ID_MISMATCH);
  });

  it.each(Object.keys(README_TABLES))('holds the %s table exactly as its settings records render it (npm run docs)', (name) => {
    expect(generatedSection(readme, name)).toBe(README_TABLES[name]);
  });

  it.each(Object.entries(status.errorTypes))('lists errorType %s with HTTP %i', (errorType, httpStatus) => {
    const found = [...rows.entries()].filter(([first, others]) => first === String(httpStatus) && others.some((cells) => cells[0] === errorType));
    expect(found).toHaveLength(1);
  });
});

describe('README and contract/README.md against contract/limits.json', () => {
  const { runtimeReserveMiB } = LIMITS_FILE.workerMemory;
  const deployedWorkerMiB = 256 - runtimeReserveMiB;

  it.each(CONTEXT_SETTINGS.filter((setting) => setting.limit !== undefined && setting.limit !== 'workerMemoryMiB' && setting.limit !== 'preloads').map((setting) => [setting.key, setting.limit as keyof typeof LIMIT_SPECS]))(
    'states the default of %s in people\'s units in the Limits table, where the table lists it',
    (key, limit) => {
      const rows = [...tableRows(section('## Limits')).values()].flat().filter((cells) => cells[1]?.split(', ').includes(key));
      for (const [defaultCell] of rows) {
        expect(defaultCell).toContain(forPeople(limitRecord(limit)));
      }
    },
  );

  it('states the worker memory the way the stack and the executor derive it', () => {
    const [[defaultCell]] = tableRows(section('## Limits')).get('worker memory')!;
    expect(defaultCell).toBe(`${deployedWorkerMiB} MiB (memory - ${runtimeReserveMiB})`);
    expect(readme).toContain(`(${deployedWorkerMiB} MiB at the default 256 MB, ${limitRecord('workerMemoryMiB').default} MiB locally)`);
  });

  it('gives the request rules with the default limits', () => {
    const [script] = tableRows(section('### Request')).get('script')!;
    expect(script[1]).toContain(`at most ${forPeople(limitRecord('maxScriptBytes'))} of UTF-8`);
    const [timeout] = tableRows(section('### Request')).get('timeoutMs')!;
    expect(timeout[1]).toContain(`${limitRecord('minTimeoutMs').default} to ${limitRecord('maxTimeoutMs').default} (the deployment's maximum), default ${limitRecord('defaultTimeoutMs').default}`);
    expect(section('### Request')).toContain(`The whole body is at most ${forPeople(limitRecord('maxRequestBytes'))}`);
    expect(section('### Request')).toContain(`nested at most ${MAX_NESTING_DEPTH} levels deep`);
    expect(section('### Response')).toContain(`each capped at ${forPeople(limitRecord('maxStdoutBytes'))}`);
  });

  it('gives the status codes and the deploy notes with the default limits and the timing budget', () => {
    expect(readme).toContain(`| 413 | \`RequestTooLarge\` | body over ${forPeople(limitRecord('maxRequestBytes'))} or script over ${forPeople(limitRecord('maxScriptBytes'))} |`);
    expect(readme).toContain(`| 422 | \`ResultTooLarge\` | the encoded result is over ${forPeople(limitRecord('maxResultBytes'))} |`);
    const answerSeconds = (TIMING_BUDGET.executorHeadroomMs + TIMING_BUDGET.invokerWorkMs) / 1000;
    expect(readme).toContain(`\`maxRequestTimeoutMs\` (${forPeople(limitRecord('maxTimeoutMs'))}) plus ${answerSeconds} s for the executor and the\n   invoker`);
    expect(readme).toContain(`Why the request limit is ${forPeople(limitRecord('maxRequestBytes'))} and not 1 MiB`);
  });

  it('lists in contract/README.md every variable of limits.json with its default and meaning, and only the executor settings besides', () => {
    const contractReadme = readFileSync(join(ROOT, 'contract', 'README.md'), 'utf8');
    const rows = tableRows(contractReadme.slice(contractReadme.indexOf('## Limits as environment variables')));
    const configurable = LIMITS_FILE.limits.filter((record) => record.env !== null);
    for (const record of configurable) {
      const [cells] = rows.get(record.env!) ?? [[]];
      expect([record.env, cells[0]]).toEqual([record.env, String(record.default)]);
      const meaning = unquoted(record.meaning);
      expect(unquoted(cells[1] ?? '').slice(0, meaning.length)).toBe(meaning);
    }
    expect(rows.get('EXECUTOR_WORKER_MEMORY_MIB')![0][1]).toContain(`the function's memory minus ${runtimeReserveMiB} MiB kept for the runtime`);
    const variables = [...rows.keys()].filter((first) => first.startsWith('EXECUTOR_'));
    expect(variables.filter((variable) => !configurable.some((record) => record.env === variable)).sort()).toEqual(['EXECUTOR_PRELOADS', 'EXECUTOR_SANDBOX_UID']);
    expect(unquoted(rows.get(LIMITS_FILE.preloads.env)![0][0])).toBe(LIMITS_FILE.preloads.default.join(','));
    expect(contractReadme).toContain(`nesting depth counts the request object as level 1 (at most ${MAX_NESTING_DEPTH})`);
  });
});
