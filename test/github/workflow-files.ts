import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parseDocument } from 'yaml';

export const REPO_ROOT = path.resolve(__dirname, '../..');
export const WORKFLOW_NAMES = ['ci.yml', 'deploy.yml'] as const;
export type WorkflowName = (typeof WORKFLOW_NAMES)[number];

export interface Step {
  readonly name?: string;
  readonly id?: string;
  readonly if?: string;
  readonly uses?: string;
  readonly run?: string;
  readonly with?: Record<string, unknown>;
  readonly env?: Record<string, unknown>;
}

export interface Job {
  readonly name?: string;
  readonly needs?: string | string[];
  readonly if?: string;
  readonly uses?: string;
  readonly permissions?: unknown;
  readonly environment?: string | { readonly name?: string; readonly url?: string };
  readonly concurrency?: string | { readonly group?: string; readonly 'cancel-in-progress'?: unknown };
  readonly container?: unknown;
  readonly env?: Record<string, unknown>;
  readonly steps?: Step[];
}

export interface Workflow {
  readonly name?: string;
  readonly on: Record<string, unknown>;
  readonly permissions?: unknown;
  readonly concurrency?: unknown;
  readonly env?: Record<string, unknown>;
  readonly jobs: Record<string, Job>;
}

export interface LoadedWorkflow {
  readonly file: WorkflowName;
  readonly text: string;
  readonly workflow: Workflow;
}

/**
 * Reads and parses a workflow strictly: a duplicate key or a YAML error fails
 * the test instead of being resolved silently the way GitHub might.
 */
export function loadWorkflow(file: WorkflowName): LoadedWorkflow {
  const text = readFileSync(path.join(REPO_ROOT, '.github/workflows', file), 'utf8');
  const document = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  if (document.errors.length > 0) {
    throw new Error(`${file} is not valid YAML: ${document.errors.map((error) => error.message).join('; ')}`);
  }
  const workflow = document.toJS() as Workflow;
  // `on: push` parses as the string 'push'; normalize so tests read one shape.
  const on = workflow.on as unknown;
  const normalizedOn: Record<string, unknown> =
    typeof on === 'string' ? { [on]: null } : Array.isArray(on) ? Object.fromEntries(on.map((event: string) => [event, null])) : (on as Record<string, unknown>);
  return { file, text, workflow: { ...workflow, on: normalizedOn } };
}

/** The GitHub environment a job deploys to, in either of the two spellings. */
export function environmentName(job: Job): string | undefined {
  return typeof job.environment === 'string' ? job.environment : job.environment?.name;
}

/** The name of the deploy job's environment in deploy.yml; the role's trust policy must name the same one. */
export function deployEnvironmentName(): string {
  const name = environmentName(loadWorkflow('deploy.yml').workflow.jobs.deploy);
  if (name === undefined) {
    throw new Error('deploy.yml has no environment on its deploy job.');
  }
  return name;
}
