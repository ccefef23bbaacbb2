/** Finding the Python interpreter that runs the executor. */
import { spawnSync } from 'node:child_process';

export const MIN_PYTHON = [3, 9] as const;

export class PythonError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PythonError';
  }
}

/**
 * Resolves SANDBOX_PYTHON to the interpreter's real path with the user's own
 * environment (pyenv shims and virtualenvs need it), because the runtimes
 * are started with a minimal environment in which a shim would not work.
 */
export function resolvePython(command: string): { executable: string; version: string } {
  const probe = spawnSync(command, ['-c', 'import sys; print(sys.executable); print("%d.%d.%d" % sys.version_info[:3])'], {
    encoding: 'utf8',
    timeout: 30000,
  });
  if (probe.error !== undefined) {
    const code = (probe.error as NodeJS.ErrnoException).code;
    throw new PythonError(
      code === 'ENOENT'
        ? `SANDBOX_PYTHON=${command} was not found; install Python ${MIN_PYTHON.join('.')}+ or point SANDBOX_PYTHON at one (on Debian/Ubuntu: SANDBOX_PYTHON=/usr/bin/python3).`
        : `SANDBOX_PYTHON=${command} could not be run: ${probe.error.message}`,
    );
  }
  if (probe.status !== 0) {
    throw new PythonError(`SANDBOX_PYTHON=${command} failed to start (exit ${probe.status}): ${probe.stderr.trim().slice(0, 500)}`);
  }
  const [executable, version] = probe.stdout.trim().split('\n');
  const [major, minor] = version.split('.').map(Number);
  if (major < MIN_PYTHON[0] || (major === MIN_PYTHON[0] && minor < MIN_PYTHON[1])) {
    throw new PythonError(`SANDBOX_PYTHON=${command} is Python ${version}; the executor needs Python ${MIN_PYTHON.join('.')} or newer.`);
  }
  if (!executable) {
    throw new PythonError(`SANDBOX_PYTHON=${command} did not report its executable path (sys.executable is empty).`);
  }
  return { executable, version };
}

