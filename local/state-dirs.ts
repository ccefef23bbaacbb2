/**
 * Removing what a runtime left in /tmp after it was killed.
 *
 * The executor keeps its state (worker working directories, matplotlib
 * cache) in `/tmp/executor-<runtime pid>-<random>` and removes it itself when
 * it ends normally or on SIGTERM. A SIGKILLed runtime (timeout, crash, a
 * shutdown past its grace) cannot; Lambda would discard the environment, but
 * a laptop keeps /tmp, so the server removes the folders of the runtimes it
 * killed.
 */
import { randomBytes } from 'node:crypto';
import { chmod, lstat, readdir, rename, rm, rmdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';

/** Where the executor puts its state folder (engine.py: /tmp whenever it exists). */
const STATE_PARENT_DIRS = ['/tmp'];

/**
 * The executor's state folder prefixes (engine.py `_make_state_dir`: made
 * and locked as `.executor-starting-<pid>-*`, then renamed `executor-<pid>-*`).
 */
function statePrefixes(runtimePid: number): string[] {
  return [`executor-${runtimePid}-`, `.executor-starting-${runtimePid}-`];
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the state folders of a runtime that is gone. Only real
 * directories owned by this process's user are touched, never a symlink, and
 * nothing while the pid is alive (it may already name another process).
 * Returns the folders removed.
 */
export async function removeRuntimeStateDirs(runtimePid: number): Promise<string[]> {
  if (isAlive(runtimePid)) {
    return [];
  }
  const ownUid = typeof process.geteuid === 'function' ? process.geteuid() : undefined;
  const removed: string[] = [];
  for (const parent of STATE_PARENT_DIRS) {
    let names: string[];
    try {
      names = await readdir(parent);
    } catch {
      continue;
    }
    for (const name of names.filter((candidate) => statePrefixes(runtimePid).some((prefix) => candidate.startsWith(prefix)))) {
      const path = join(parent, name);
      try {
        const info = await lstat(path);
        if (!info.isDirectory() || (ownUid !== undefined && info.uid !== ownUid)) {
          continue;
        }
      } catch {
        continue;
      }
      await removeTree(path);
      removed.push(path);
    }
  }
  return removed;
}

/**
 * Deletes a directory tree of any depth, including directories a script made
 * unreadable. A recursive delete walks one level per call and builds ever
 * longer paths, so a script's very deep tree would exhaust the stack or
 * PATH_MAX; here every subdirectory's entries are moved up into the top
 * directory before it is removed (as the executor's own `_remove_tree`
 * does), so paths stay short. Symlinks are removed, never followed. Only for
 * trees no live process writes to.
 */
async function removeTree(path: string): Promise<void> {
  try {
    const info = await lstat(path);
    if (!info.isDirectory()) {
      await unlink(path);
      return;
    }
    await chmod(path, 0o700);
  } catch {
    return;
  }
  const token = randomBytes(6).toString('hex');
  let counter = 0;
  // A pass without progress ends it: what is left cannot be removed.
  for (let progress = true; progress; ) {
    progress = false;
    let names: string[];
    try {
      names = await readdir(path);
    } catch {
      break;
    }
    for (const name of names) {
      const entry = join(path, name);
      try {
        if (!(await lstat(entry)).isDirectory()) {
          await unlink(entry);
          progress = true;
          continue;
        }
        await chmod(entry, 0o700);
        for (const inner of await readdir(entry)) {
          counter += 1;
          await rename(join(entry, inner), join(path, `.rm-${token}-${counter}`));
          progress = true;
        }
        await rmdir(entry);
        progress = true;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
          progress = true;
        }
      }
    }
  }
  await rmdir(path).catch(() => rm(path, { recursive: true, force: true }).catch(() => undefined));
}
