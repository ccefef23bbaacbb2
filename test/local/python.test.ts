/**
 * The one Python resolver (local/python.ts) that `npm start`, jest,
 * run-tests.sh and the bench share, and `npm run setup-python`'s answer where
 * no package index is reachable. Candidates here are real interpreters asked
 * for modules that every Python has (json) or none has, so the outcome does
 * not depend on what this machine has installed.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { missingPreloadsWarning, PythonError, resolvePython } from '../../local/python';
import { REPO_ROOT, sandboxPython } from './server-process';

const python = sandboxPython();

describe('the Python resolver', () => {
  it('uses SANDBOX_PYTHON when set, or refuses with a sentence: never another interpreter', () => {
    expect(() => resolvePython({ repoRoot: REPO_ROOT, sandboxPython: '/nonexistent/python3', candidates: [python] })).toThrow(
      new PythonError(
        'SANDBOX_PYTHON=/nonexistent/python3 cannot run the executor: /nonexistent/python3 was not found. Point SANDBOX_PYTHON at Python 3.11+ (on Debian/Ubuntu: SANDBOX_PYTHON=/usr/bin/python3), or unset it to search.',
      ),
    );
    const chosen = resolvePython({ repoRoot: REPO_ROOT, sandboxPython: python, preloads: ['json'] });
    expect(chosen).toMatchObject({ source: 'SANDBOX_PYTHON', missingPreloads: [] });
  });

  it('takes the first candidate that runs and has every preload', () => {
    const chosen = resolvePython({ repoRoot: REPO_ROOT, preloads: ['json'], candidates: ['/nonexistent/python', python] });
    expect(chosen).toMatchObject({ command: python, source: 'search', missingPreloads: [] });
    expect(missingPreloadsWarning(chosen)).toBeUndefined();
  });

  it('runs plain Python when no candidate has the preloads, and the warning names what is missing and the fix', () => {
    const chosen = resolvePython({ repoRoot: REPO_ROOT, preloads: ['json', 'no_such_preload_15'], candidates: [python] });
    expect(chosen.missingPreloads).toEqual(['no_such_preload_15']);
    expect(missingPreloadsWarning(chosen)).toMatch(
      /^WARNING: .* cannot import no_such_preload_15, and no other Python found here can: plain Python runs, scripts that import it fail\. To fix it, run `npm run setup-python`.*apt-get install python3-numpy python3-pandas python3-matplotlib/,
    );
  });

  it('refuses with a sentence when no Python 3.11+ exists at all', () => {
    expect(() => resolvePython({ repoRoot: REPO_ROOT, candidates: ['/nonexistent/python'] })).toThrow(/^No Python 3\.11\+ was found \(\/nonexistent\/python was not found\)\. Install one, or point SANDBOX_PYTHON at one/);
  });
});

describe('npm run setup-python', () => {
  it('says in one sentence what to do instead when no package index is reachable, and leaves no .venv behind', () => {
    const scratch = mkdtempSync(join(tmpdir(), 'setup-python-test-'));
    const venv = join(scratch, 'venv');
    try {
      const run = spawnSync('bash', [join(REPO_ROOT, 'scripts', 'setup-python.sh')], {
        encoding: 'utf8',
        timeout: 120000,
        // No index and an empty wheel folder: what a machine without network sees, without a real install.
        env: { ...process.env, SETUP_PYTHON_VENV: venv, PIP_NO_INDEX: '1', PIP_FIND_LINKS: scratch, PIP_CONFIG_FILE: '/dev/null' },
      });
      expect(run.status).toBe(1);
      const last = run.stderr.trim().split('\n').slice(-1)[0];
      expect(last).toMatch(
        new RegExp(
          `^setup-python: could not install runtime-image/requirements.txt into ${venv} for Python 3\\.\\d+: no package index was reachable, or it has no wheels of these pins for this Python .*; ${venv} was removed\\. Retry where an index is reachable, or use your system's packages instead \\(Debian/Ubuntu: apt-get install python3-numpy python3-pandas python3-matplotlib, then SANDBOX_PYTHON=/usr/bin/python3\\)`,
        ),
      );
      expect(existsSync(venv)).toBe(false);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });
});
