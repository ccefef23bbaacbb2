/**
 * The local server in the Lambda profile (SANDBOX_PROFILE=lambda): every
 * runtime runs as AWS Lambda runs it, one unprivileged uid for everything,
 * no namespaces or seccomp of its own. /healthz must say so, and scripts
 * must run as that uid with what that world gives them.
 */
import { startServer, type RunningServer } from './server-process';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
// The profile needs root to build its namespaces; CI runs as root, so there
// a missing root fails the suite instead of skipping it.
const describeAsRoot = isRoot || process.env.CI === 'true' ? describe : describe.skip;

async function execute(url: string, script: string): Promise<Record<string, any>> {
  const response = await fetch(`${url}/execute`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ script }),
  });
  return (await response.json()) as Record<string, any>;
}

describeAsRoot('local server in the Lambda profile (SANDBOX_PROFILE=lambda)', () => {
  let server: RunningServer;
  const uidBase = 210000 + Math.floor(Math.random() * 8000) * 10;

  beforeAll(async () => {
    server = await startServer({ env: { SANDBOX_PROFILE: 'lambda', SANDBOX_CONCURRENCY: '1', SANDBOX_UID_BASE: String(uidBase) } });
  }, 180000);

  afterAll(async () => {
    await server?.stop();
  });

  it('reports the Lambda profile and exactly the layers Lambda allows at /healthz', async () => {
    const response = await fetch(`${server.url}/healthz`);
    expect(response.status).toBe(200);
    const executor = ((await response.json()) as Record<string, any>).executor;
    expect(executor.profile).toBe('lambda');
    const states = Object.fromEntries(Object.entries(executor.layers as Record<string, { state: string }>).map(([name, layer]) => [name, layer.state]));
    expect(states).toMatchObject({
      unprivileged_uid: 'off',
      namespaces: 'off',
      seccomp: 'off',
      network_isolation: 'off',
      runtime_guard: 'active',
      containment: 'active',
      execution_memory: 'active',
      non_dumpable_parent: 'active',
      template: 'active',
    });
    expect(executor.layers.seccomp.detail).toContain('PR_SET_NO_NEW_PRIVS');
  });

  it('runs scripts as the runtime\'s own uid, with the code read-only at /var/task and only /tmp writable', async () => {
    const body = await execute(
      server.url,
      [
        'import os',
        'def main():',
        '    def writable(path):',
        '        try:',
        '            open(os.path.join(path, "probe"), "w").close()',
        '            return True',
        '        except OSError:',
        '            return False',
        '    return {"uid": os.getuid(), "task": writable("/var/task"), "usr": writable("/usr"), "tmp": writable("/tmp")}',
      ].join('\n'),
    );
    expect(body.ok).toBe(true);
    expect(body.result).toEqual({ uid: uidBase, task: false, usr: false, tmp: true });
  });
});
