/**
 * What a newcomer sees at `npm start`: the runtimes' own start-up lines
 * first, each short, then the banner with the Python the server chose and
 * its preloads, then READY; no AWS SDK notice about Node 20, which this
 * project supports.
 */
import { startServer, type RunningServer } from './server-process';

let server: RunningServer;

beforeAll(async () => {
  // The runtimes' log lines on, and the SDK's switch left unset, as in a newcomer's shell.
  server = await startServer({ env: { RUNTIME_LOGS: '1', SANDBOX_CONCURRENCY: '1', TENANCY: 'shared', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: '' } });
});

afterAll(async () => {
  await server?.stop();
});

describe('npm start', () => {
  it('prints the banner after the runtime reported, with the chosen Python and its preloads, and READY last', () => {
    const lines = server.output().split('\n');
    const initialised = lines.findIndex((line) => line.includes('"message":"executor initialised"'));
    const banner = lines.findIndex((line) => line.startsWith('secure-python-executor local server on '));
    const ready = lines.findIndex((line) => line.startsWith('READY '));
    expect(initialised).toBeGreaterThanOrEqual(0);
    expect(banner).toBeGreaterThan(initialised);
    expect(ready).toBeGreaterThan(banner);
    const bannerText = lines.slice(banner, ready).join('\n');
    expect(bannerText).toContain(`  python:     ${process.env.SANDBOX_PYTHON}`);
    expect(bannerText).toMatch(/ {2}executor: {3}Python [\d.]+; preloads: numpy\b/);
  });

  it('keeps every start-up line short (the whole health report only with RUNTIME_LOGS=debug)', () => {
    const long = server.output().split('\n').filter((line) => line.length > 1024);
    expect(long.map((line) => line.slice(0, 120))).toEqual([]);
  });

  it('shows no AWS SDK notice about Node.js 20', () => {
    expect(server.output()).not.toContain('NodeVersionSupportWarning');
  });
});
