import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { REPOSITORY_ROOT } from './helpers';

/*
 * The executor image cannot be built here (no Docker engine), so these tests
 * read runtime-image/Dockerfile as the build would, and evaluate with a real
 * Python what its shell expressions expand to.
 */

const dockerfile = readFileSync(path.join(REPOSITORY_ROOT, 'runtime-image', 'Dockerfile'), 'utf8');

/** Instructions with their continuation lines joined, comments dropped. */
function instructions(): string[] {
  return dockerfile
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('#'))
    .join('\n')
    .replace(/\\\n\s*/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
}

const PYTHON = process.env.SANDBOX_PYTHON ?? 'python3';

describe('runtime-image/Dockerfile', () => {
  const runs = instructions().filter((instruction) => instruction.startsWith('RUN '));
  const compileTargets = runs.flatMap((run) => [...run.matchAll(/python3 -m compileall (?:-\S+ (?:0 )?)*("\$\(python3 -c '[^']*'\)"|\S+)/g)].map((match) => match[1]));

  it('builds on the AWS Lambda base image for Python 3.12 and runs the executor package as the runtime', () => {
    expect(instructions()[0]).toBe('FROM public.ecr.aws/lambda/python:3.12');
    expect(instructions()).toContain('ENTRYPOINT ["python3", "-m", "executor"]');
    expect(instructions()).toContain('COPY runtime-image/executor/ ${LAMBDA_TASK_ROOT}/executor/');
  });

  it('puts contract/limits.json two levels above the executor package, where the executor looks for it as in the repository', () => {
    // LAMBDA_TASK_ROOT is /var/task in the base image: the package is /var/task/executor/.
    expect(instructions()).toContain('COPY contract/limits.json /var/contract/limits.json');
    expect(path.posix.join('/var/task/executor', '..', '..', 'contract', 'limits.json')).toBe('/var/contract/limits.json');
    const limitsPy = readFileSync(path.join(REPOSITORY_ROOT, 'runtime-image', 'executor', 'limits.py'), 'utf8');
    expect(limitsPy).toContain('Path(__file__).resolve().parent.parent.parent / "contract" / "limits.json"');
  });

  it('compiles the installed packages and the executor only, never the whole standard library with its test/ package', () => {
    expect(compileTargets).toEqual([`"$(python3 -c 'import sysconfig; print(sysconfig.get_path("platlib"))')"`, '${LAMBDA_TASK_ROOT}/executor']);
    for (const run of runs) {
      expect(run).not.toMatch(/compileall[^&]*\/var\/lang\/lib\/python3\.12(\s|$|")/);
    }
  });

  it('names with its sysconfig expression the directory pip installs into, which is outside the standard library', () => {
    const expression = /python3 -c '([^']+)'/.exec(compileTargets[0])![1];
    const platlib = execFileSync(PYTHON, ['-c', expression], { encoding: 'utf8' }).trim();
    const stdlib = execFileSync(PYTHON, ['-c', 'import sysconfig; print(sysconfig.get_path("stdlib"))'], { encoding: 'utf8' }).trim();
    expect(platlib).toMatch(/(site|dist)-packages$/);
    // Compiling platlib must not reach the standard library's own files (test/ among them).
    const stdlibInsidePlatlib = !path.relative(platlib, stdlib).startsWith('..');
    expect(stdlibInsidePlatlib).toBe(false);
  });

  it('installs wheels only, so the build compiles no C and needs no compiler', () => {
    expect(runs.some((run) => /pip install --only-binary=:all: --no-compile -r \/tmp\/requirements\.txt/.test(run))).toBe(true);
    expect(instructions().join('\n')).not.toMatch(/\b(gcc|make|python3-devel)\b/);
  });
});
