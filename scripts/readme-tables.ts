/**
 * Writes README.md's settings tables from the settings records: the deploy
 * settings (CONTEXT_SETTINGS in lib/config.ts) and the local server's
 * (SETTINGS in local/config.ts). `npm run docs`; test/docs/readme.test.ts
 * fails when the README differs from what this would write.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONTEXT_SETTINGS } from '../lib/config';
import { renderSettingsTable, replaceGeneratedSection } from '../lib/settings';
import { SETTINGS } from '../local/config';

export const README_PATH = join(__dirname, '..', 'README.md');

/** Each generated section of the README, by marker name. */
export const README_TABLES: Readonly<Record<string, string>> = {
  'deploy-settings': renderSettingsTable('context key', CONTEXT_SETTINGS),
  'local-settings': renderSettingsTable('variable', SETTINGS),
};

export function renderReadme(readme: string): string {
  return Object.entries(README_TABLES).reduce((text, [name, table]) => replaceGeneratedSection(text, name, table), readme);
}

if (require.main === module) {
  const before = readFileSync(README_PATH, 'utf8');
  const after = renderReadme(before);
  if (after !== before) writeFileSync(README_PATH, after);
  console.log(after === before ? 'README.md tables are up to date.' : 'README.md tables rewritten.');
}
