import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { REPO_ROOT } from './workflow-files';

export interface SynthesizedApp {
  readonly result: SpawnSyncReturns<string>;
  /** The stack artifact ids, which are the names `cdk deploy` accepts. */
  readonly stackIds: string[];
  /** Every synthesized template, by stack id. */
  readonly templates: Record<string, { Resources: Record<string, { Type: string; Properties?: Record<string, any> }> }>;
}

/**
 * Runs bin/app.ts the way the CDK CLI does (CDK_OUTDIR, CDK_CONTEXT_JSON), so
 * the tests see exactly what `cdk deploy` would deploy.
 */
export function synthApp(context: Record<string, string>): SynthesizedApp {
  const outdir = mkdtempSync(path.join(tmpdir(), 'synth-app-'));
  try {
    const result = spawnSync(process.execPath, [path.join(REPO_ROOT, 'node_modules/tsx/dist/cli.mjs'), 'bin/app.ts'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      env: { ...process.env, CDK_OUTDIR: outdir, CDK_CONTEXT_JSON: JSON.stringify(context) },
    });
    if (result.status !== 0) {
      return { result, stackIds: [], templates: {} };
    }
    const manifest = JSON.parse(readFileSync(path.join(outdir, 'manifest.json'), 'utf8')) as {
      artifacts: Record<string, { type: string }>;
    };
    const stackIds = Object.entries(manifest.artifacts)
      .filter(([, artifact]) => artifact.type === 'aws:cloudformation:stack')
      .map(([id]) => id)
      .sort();
    const templates = Object.fromEntries(
      readdirSync(outdir)
        .filter((file) => file.endsWith('.template.json'))
        .map((file) => [file.replace('.template.json', ''), JSON.parse(readFileSync(path.join(outdir, file), 'utf8'))]),
    );
    return { result, stackIds, templates };
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}
