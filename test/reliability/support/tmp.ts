/**
 * Finding the temp folders a server and its runtimes made, so a test can
 * prove they are gone after shutdown. Other suites share os.tmpdir() and run
 * at the same time, so only folders provably ours are judged: the server's
 * own folder (found through an artifact of a known request id) and the
 * executor state folders named after our runtimes' pids.
 */
import { existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function tmpListing(): Set<string> {
  return new Set(readdirSync(tmpdir()));
}

/** The server's temp root: the new `secure-python-executor-*` folder holding artifacts/<requestId>. */
export function serverTempDir(before: ReadonlySet<string>, artifactRequestId: string): string | undefined {
  for (const name of readdirSync(tmpdir())) {
    if (before.has(name) || !name.startsWith('secure-python-executor-')) continue;
    if (existsSync(join(tmpdir(), name, 'artifacts', artifactRequestId))) return join(tmpdir(), name);
  }
  return undefined;
}

/** Executor state folders (`executor-<pid>-*`, in /tmp and os.tmpdir()) of the given runtime pids that still exist. */
export function executorStateDirs(runtimePids: ReadonlySet<number>): string[] {
  const found: string[] = [];
  for (const root of new Set(['/tmp', tmpdir()])) {
    let names: string[];
    try {
      names = readdirSync(root);
    } catch {
      continue;
    }
    for (const name of names) {
      const match = /^executor-(\d+)-/.exec(name);
      if (match && runtimePids.has(Number(match[1]))) found.push(join(root, name));
    }
  }
  return found;
}
