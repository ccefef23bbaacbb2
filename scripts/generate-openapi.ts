/**
 * Writes contract/openapi.json from the contract module (contract/):
 * `npm run openapi`. test/openapi/openapi.test.ts fails when the committed
 * file differs from what this writes, so a change to the contract that is
 * not regenerated cannot be merged.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildOpenApiDocument } from '../contract/openapi';

export const OPENAPI_FILE = join(__dirname, '..', 'contract', 'openapi.json');

/** The committed file's exact text: the fixtures' one-space indentation and a final newline. */
export function openApiText(): string {
  return `${JSON.stringify(buildOpenApiDocument(), null, 1)}\n`;
}

if (require.main === module) {
  writeFileSync(OPENAPI_FILE, openApiText());
  process.stdout.write(`Wrote ${OPENAPI_FILE}\n`);
}
