/**
 * The README is part of the product: these checks tie its tables and quick
 * start to the code they describe, so a new setting, error type or changed
 * default cannot land without the README saying so.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { generatedSection } from '../../lib/settings';
import { README_TABLES } from '../../scripts/readme-tables';
import { MAX_TENANT_HEADER_CHARS, messages, TENANT_HEADER } from '../../contract';
import { CALLER_HASH_HEX_CHARS } from '../../invoker/tenant';
import { TENANT_ID_MISMATCH } from '../../local/runtime-pool';

const ROOT = join(__dirname, '..', '..');
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
const status = JSON.parse(readFileSync(join(ROOT, 'contract', 'status.json'), 'utf8')) as {
  errorTypes: Record<string, number>;
};

/** Rows of every Markdown table, backticks removed: first cell -> the other cells. */
function tableRows(): Map<string, string[][]> {
  const rows = new Map<string, string[][]>();
  for (const line of readme.split('\n')) {
    if (!line.startsWith('| ') || line.startsWith('|---')) continue;
    const cells = line.split(' | ').map((cell) => cell.replace(/^\|? ?|\s?\|$/g, '').replace(/`/g, '').trim());
    const key = cells[0];
    rows.set(key, [...(rows.get(key) ?? []), cells.slice(1)]);
  }
  return rows;
}

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
