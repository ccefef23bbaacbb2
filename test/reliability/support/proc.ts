/**
 * Reading the process table from /proc (Linux), to find the processes a
 * server started, to check that none is left after it stops, and to sample
 * their memory and open file descriptors.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { listProcesses, readProcess, type ProcessInfo } from '../../../local/process-tree';

/** The product's own /proc reader (local/process-tree.ts), so tests and server agree on what a process is. */
export type Proc = ProcessInfo;
export const readProc = readProcess;

/** A process identity that survives pid reuse. */
export type ProcKey = `${number}@${number}`;

export function keyOf(proc: Proc): ProcKey {
  return `${proc.pid}@${proc.startTicks}`;
}

export function processTable(): Proc[] {
  return listProcesses();
}

/** Every descendant of rootPid (not rootPid itself), found through the ppid links. */
export function descendants(rootPid: number, table: readonly Proc[] = processTable()): Proc[] {
  const children = new Map<number, Proc[]>();
  for (const proc of table) {
    const list = children.get(proc.ppid) ?? [];
    list.push(proc);
    children.set(proc.ppid, list);
  }
  const found: Proc[] = [];
  const stack = [rootPid];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    for (const child of children.get(pid) ?? []) {
      found.push(child);
      stack.push(child.pid);
    }
  }
  return found;
}

/** True while the exact process (pid and start time) exists and is not a zombie. */
export function stillAlive(key: ProcKey): boolean {
  const [pid, start] = key.split('@').map(Number);
  const proc = readProc(pid!);
  return proc !== undefined && proc.startTicks === start && proc.state !== 'Z' && proc.state !== 'X';
}

/** Resident memory in bytes (VmRSS), or undefined when the process is gone. */
export function rssBytes(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+) kB/m.exec(status);
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Open file descriptors, or undefined when the process is gone. */
export function openFds(pid: number): number | undefined {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return undefined;
  }
}

/** A view of everything a server has started, collected over a test so nothing that came and went is missed. */
export class ProcessWatch {
  readonly seen = new Map<ProcKey, Proc>();

  constructor(
    private readonly serverPid: number,
    private readonly uids: readonly number[],
  ) {}

  /** Records the server's current descendants and every process of its sandbox uids. */
  sample(): Proc[] {
    const table = processTable();
    const members = new Map<number, Proc>();
    for (const proc of descendants(this.serverPid, table)) members.set(proc.pid, proc);
    for (const proc of table) if (this.uids.includes(proc.uid)) members.set(proc.pid, proc);
    for (const proc of members.values()) this.seen.set(keyOf(proc), proc);
    return [...members.values()];
  }

  /** Everything ever seen that still exists, plus any live process of the sandbox uids. */
  leftovers(): Proc[] {
    const left = new Map<number, Proc>();
    for (const [key, proc] of this.seen) if (stillAlive(key)) left.set(proc.pid, proc);
    for (const proc of processTable()) {
      if (this.uids.includes(proc.uid) && proc.state !== 'Z') left.set(proc.pid, proc);
    }
    return [...left.values()];
  }
}
