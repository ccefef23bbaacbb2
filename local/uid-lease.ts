/**
 * Sandbox uids leased for the server's whole life, so that servers on one
 * machine never share one.
 *
 * Running as root, each runtime's workers get a sandbox uid of their own, and
 * stopping or replacing a runtime kills every process of that uid
 * (process-tree.ts): a second server (or `npm test` next to `npm start`) that
 * picked the same uids would kill the first one's workers. Each uid is
 * therefore leased with an exclusive flock on `<LEASE_DIR>/uid-<n>.lock`,
 * taken by a small Python helper (Node has no flock) that holds the locks
 * until its stdin closes: when this server exits, however it exits, the
 * kernel closes the pipe, the helper ends and the leases are free. Uids whose
 * lock another server holds are skipped.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

/** Root-owned and on tmpfs: no other user can plant a lock file, and a reboot frees every lease. */
const LEASE_DIR = '/run/secure-python-executor/uid-leases';
/** How far above the base the search goes before it gives up. */
const MAX_UID_SEARCH = 4096;

export class UidLeaseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UidLeaseError';
  }
}

const HELPER = `
import fcntl, json, os, signal, sys
# The server's own signals (Ctrl+C reaches the whole process group) must not end the
# leases while it still stops its runtimes: only the closed pipe does.
for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(number, signal.SIG_IGN)
directory, base, count, span = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
os.makedirs(directory, mode=0o700, exist_ok=True)
held, uids = [], []
for uid in range(base, base + span):
    if len(uids) == count:
        break
    fd = os.open(os.path.join(directory, "uid-%d.lock" % uid), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        continue
    held.append(fd)
    uids.append(uid)
print(json.dumps(uids), flush=True)
sys.stdin.read()
`;

interface UidLease {
  /** The leased uids, lowest first; slot N (1-based) uses uids[N - 1]. */
  readonly uids: readonly number[];
  /** Frees the leases (the helper ends); also happens when this process exits. */
  readonly release: () => void;
}

/**
 * Leases `count` uids from `base` upwards that no other server holds.
 * `python` runs the helper (the executor's own interpreter).
 */
export async function leaseUids(python: string, base: number, count: number, directory = LEASE_DIR): Promise<UidLease> {
  const helper: ChildProcess = spawn(python, ['-I', '-c', HELPER, directory, String(base), String(count), String(MAX_UID_SEARCH)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  helper.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const release = (): void => {
    helper.stdin?.end();
  };
  const line = await new Promise<string | undefined>((resolve) => {
    const lines = createInterface({ input: helper.stdout! });
    lines.once('line', (text) => resolve(text));
    helper.once('exit', () => resolve(undefined));
    helper.once('error', () => resolve(undefined));
  });
  const uids = line === undefined ? undefined : (JSON.parse(line) as number[]);
  if (uids === undefined || uids.length < count) {
    release();
    throw new UidLeaseError(
      uids === undefined
        ? `Could not lease sandbox uids in ${directory}: ${stderr.trim().split('\n').slice(-1)[0] ?? 'the helper ended'}.`
        : `Only ${uids.length} of ${count} sandbox uids from ${base} to ${base + MAX_UID_SEARCH - 1} are free (other local servers hold the rest); stop one or set SANDBOX_UID_BASE to another range.`,
    );
  }
  // The helper must not keep this process alive, nor die with it before its pipe closes.
  helper.unref();
  (helper.stdout as unknown as { unref?: () => void } | null)?.unref?.();
  (helper.stderr as unknown as { unref?: () => void } | null)?.unref?.();
  (helper.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  return { uids, release };
}
