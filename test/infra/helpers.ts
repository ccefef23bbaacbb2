import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { resolveConfig, SecurePythonExecutorConfig, SecurePythonExecutorConfigProps } from '../../lib/config';
import { SecurePythonExecutorStack } from '../../lib/secure-python-executor-stack';

export const REPOSITORY_ROOT = path.join(__dirname, '..', '..');

export interface SynthesizedStack {
  readonly app: App;
  readonly stack: SecurePythonExecutorStack;
  readonly template: Template;
  readonly config: SecurePythonExecutorConfig;
  readonly outdir: string;
}

/** A fresh app in its own temporary cloud-assembly directory. */
export function newApp(): { app: App; outdir: string } {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'spe-infra-'));
  return { app: new App({ outdir }), outdir };
}

/** Builds the stack exactly as bin/app.ts does (minus cdk-nag) and synthesizes it once. */
export function synthesize(props: SecurePythonExecutorConfigProps = {}): SynthesizedStack {
  const { app, outdir } = newApp();
  const config = resolveConfig(props);
  const stack = new SecurePythonExecutorStack(app, 'SecurePythonExecutor', { config });
  return { app, stack, template: Template.fromStack(stack), config, outdir };
}

/** The logical id of the one resource of `type` whose logical id contains `pathFragment` (ids derive from construct paths). */
export function logicalIdOf(template: Template, type: string, pathFragment: string): string {
  const resources = template.findResources(type);
  const ids = Object.keys(resources).filter((id) => id.includes(pathFragment));
  if (ids.length !== 1) {
    throw new Error(`Expected exactly one ${type} whose logical id contains '${pathFragment}', found ${ids.length}: ${ids.join(', ')}.`);
  }
  return ids[0];
}

export function resourcesOfType(template: Template, type: string): [string, { Properties?: Record<string, unknown> }][] {
  return Object.entries(template.findResources(type)) as [string, { Properties?: Record<string, unknown> }][];
}
