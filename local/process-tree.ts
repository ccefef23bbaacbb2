/**
 * Finding and killing everything a runtime started.
 *
 * A runtime is spawned as the leader of its own session and process group,
 * but its workers put themselves in their own process groups, may call
 * setsid, may be orphaned when the runtime dies, and (when the server runs as
 * root) run under a sandbox uid. Killing the runtime's group alone would
 * leave them behind, so on Linux the whole process table is scanned for
 * descendants, members of the runtime's session and processes of its
 * sandbox uid. Elsewhere (macOS) only the process group can be reached.
 */
import { readdirSync, readFileSync } from 'node:fs';

export interface ProcessInfo {
  readonly pid: number;
  readonly ppid: number;
  readonly pgid: number;
  readonly sid: number;
  readonly uid: number;
  /** Kernel state letter: R, S, D, T, Z (zombie: dead, waiting to be reaped), ... */
  readonly state: string;
  /** utime + stime in clock ticks. */
  readonly cpuTicks: number;
  /** Start time in clock ticks after boot: with the pid, it names one process even if the pid is reused. */
  readonly startTicks: number;
}

/** Processes once seen in a family, by pid with their start time, so a reused pid is never mistaken for one. */
export type KnownMembers = Map<number, number>;

const HAS_PROC = process.platform === 'linux';

export function readProcess(pid: number): ProcessInfo | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may itself contain spaces or ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const uidLine = /^Uid:\s+(\d+)/m.exec(status);
    return {
      pid,
      state: fields[0],
      ppid: Number(fields[1]),
      pgid: Number(fields[2]),
      sid: Number(fields[3]),
      cpuTicks: Number(fields[11]) + Number(fields[12]),
      startTicks: Number(fields[19]),
      uid: uidLine ? Number(uidLine[1]) : -1,
    };
  } catch {
    // The process exited between listing and reading.
    return undefined;
  }
}

export function listProcesses(): ProcessInfo[] {
  if (!HAS_PROC) {
    return [];
  }
  const infos: ProcessInfo[] = [];
  for (const entry of readdirSync('/proc')) {
    if (/^\d+$/.test(entry)) {
      const info = readProcess(Number(entry));
      if (info !== undefined) {
        infos.push(info);
      }
    }
  }
  return infos;
}

interface ProcessFamily {
  /** The runtime's pid; it leads its own session and process group. */
  readonly leaderPid: number;
  /** Sandbox uid whose every process belongs to this runtime, when the server runs as root. */
  readonly sandboxUid?: number;
}

/**
 * Every live process that belongs to the family (the leader included while
 * it lives), and every process in `known` that still exists: a member that
 * left the session is traceable only through its parent, and once the
 * leader dies it is reparented to init and would be lost without it.
 */
export function findFamily(family: ProcessFamily, processes: readonly ProcessInfo[] = listProcesses(), known?: ReadonlyMap<number, number>): ProcessInfo[] {
  const ownPid = process.pid;
  const members = new Set<number>();
  for (const info of processes) {
    if (info.pid === ownPid) {
      continue;
    }
    if (
      info.pid === family.leaderPid ||
      info.sid === family.leaderPid ||
      info.pgid === family.leaderPid ||
      (family.sandboxUid !== undefined && info.uid === family.sandboxUid) ||
      known?.get(info.pid) === info.startTicks
    ) {
      members.add(info.pid);
    }
  }
  // Descendants that left the session (setsid) but still hang off a member.
  let grew = true;
  while (grew) {
    grew = false;
    for (const info of processes) {
      if (!members.has(info.pid) && members.has(info.ppid) && info.pid !== ownPid) {
        members.add(info.pid);
        grew = true;
      }
    }
  }
  return processes.filter((info) => members.has(info.pid));
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Already gone, which is the goal.
  }
}

/** Adds the family's current members to `known` (call it while the leader lives, before any signal). */
export function rememberFamily(family: ProcessFamily, known: KnownMembers): KnownMembers {
  for (const info of findFamily(family, listProcesses(), known)) {
    known.set(info.pid, info.startTicks);
  }
  return known;
}

/**
 * SIGKILLs the family until none of it is left alive. Bounded: a fork bomb
 * can create members between a scan and the kill, and a killed process stays
 * visible (not yet a zombie) for a moment, so it rescans a few times with
 * short pauses. The members are listed before the leader is killed and kept
 * in `known` (which may hold members seen earlier), so that those that left
 * its session are still found after it died. Returns the number of
 * processes still alive at the end.
 */
export async function killFamily(family: ProcessFamily, maxWaitMs = 3000, known: KnownMembers = new Map()): Promise<number> {
  if (HAS_PROC) {
    rememberFamily(family, known);
  }
  signal(-family.leaderPid, 'SIGKILL');
  signal(family.leaderPid, 'SIGKILL');
  if (!HAS_PROC) {
    return 0;
  }
  const deadline = Date.now() + maxWaitMs;
  for (;;) {
    // Zombies hold nothing and cannot be killed again; their parent or init reaps them.
    const alive = findFamily(family, listProcesses(), known).filter((info) => info.state !== 'Z' && info.state !== 'X');
    if (alive.length === 0) {
      return 0;
    }
    for (const info of alive) {
      known.set(info.pid, info.startTicks);
    }
    // Stop first so a forking member cannot replace itself between kills.
    for (const info of alive) {
      signal(info.pid, 'SIGSTOP');
    }
    for (const info of alive) {
      signal(info.pid, 'SIGKILL');
    }
    if (Date.now() >= deadline) {
      return alive.length;
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
