/**
 * The playground's behaviour around a run, in real headless Chromium against
 * the real local server: panes cleared per run, the draft kept across
 * reloads and example switches, elapsed time and the server's queue while
 * running, the health report as a panel, "copy as curl" (the command is run),
 * the dark theme, the timeout bounded by the server's limits, and no worker
 * duration on answers that never reached a worker. Screenshots go to
 * test-output/playground/ (gitignored).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { chromium, type Browser, type BrowserContextOptions, type Page } from 'playwright-core';
import { curlCommand } from '../../local/playground/curl';
import { postExecute, REPO_ROOT, startServer, type RunningServer } from './server-process';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SCREENSHOTS = join(REPO_ROOT, 'test-output', 'playground');
const run = promisify(execFile);

const describeWithBrowser = existsSync(CHROMIUM) || process.env.CI === 'true' ? describe : describe.skip;

async function editorText(page: Page): Promise<string> {
  return page.$$eval('.cm-content .cm-line', (lines) => lines.map((line) => line.textContent ?? '').join('\n'));
}

async function typeScript(page: Page, script: string): Promise<void> {
  await page.click('.cm-content');
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Delete');
  await page.keyboard.insertText(script);
}

async function runAndWait(page: Page): Promise<string> {
  await page.click('#run');
  await page.waitForFunction(() => document.querySelector('#status')?.textContent?.startsWith('HTTP '));
  return (await page.textContent('#status')) ?? '';
}

describeWithBrowser('playground behaviours in headless Chromium', () => {
  let server: RunningServer;
  let browser: Browser;
  let health: Record<string, any>;
  const pageErrors: string[] = [];

  async function openPage(options: BrowserContextOptions = {}): Promise<Page> {
    const context = await browser.newContext(options);
    const page = await context.newPage();
    await page.route('**/*', (route) => (route.request().url().startsWith(server.url) ? route.continue() : route.abort()));
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.goto(server.url);
    await page.waitForSelector('.cm-content');
    await page.waitForSelector('#health[data-loaded="true"]');
    return page;
  }

  beforeAll(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    server = await startServer();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-gpu'],
    });
    health = (await (await fetch(`${server.url}/healthz`)).json()) as Record<string, any>;
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('shows the health report as a panel: preloads with versions, each layer with its state and detail, the limits', async () => {
    const page = await openPage();

    const preloads = await page.$$eval('#health-preloads li', (items) => items.map((item) => [item.dataset.key, item.querySelector('.value')?.textContent]));
    const expectedPreloads = Object.entries(health.executor.preloads as Record<string, { loaded: boolean; version: string }>).map(([name, preload]) => [
      name,
      preload.loaded ? preload.version : expect.stringMatching(/^not loaded/),
    ]);
    expect(preloads).toEqual(expectedPreloads);
    const layers = await page.$$eval('#health-layers li', (items) =>
      items.map((item) => [item.dataset.layer, item.dataset.state, item.querySelector('.layer-detail')?.textContent]),
    );
    expect(layers).toEqual(Object.entries(health.executor.layers as Record<string, { state: string; detail: string }>).map(([name, layer]) => [name, layer.state, layer.detail]));
    const limits = health.invoker.limits as Record<string, number>;
    expect(await page.textContent('#health-limits [data-key="timeout"] .value')).toBe(
      `${limits.minTimeoutMs}–${limits.maxTimeoutMs} ms (default ${limits.defaultTimeoutMs} ms)`,
    );
    expect(await page.textContent('#health-limits [data-key="memory"] .value')).toBe(`${limits.workerMemoryMiB} MiB per worker`);
    expect(await page.textContent('#health')).not.toContain('{');
    await page.screenshot({ path: join(SCREENSHOTS, 'health-panel.png'), fullPage: true });
    await page.context().close();
  });

  it("bounds the timeout field by the server's limits and refuses an out-of-range value with a sentence, sending nothing", async () => {
    const page = await openPage();
    const limits = health.invoker.limits as Record<string, number>;
    expect(await page.getAttribute('#timeout', 'min')).toBe(String(limits.minTimeoutMs));
    expect(await page.getAttribute('#timeout', 'max')).toBe(String(limits.maxTimeoutMs));
    const executes: string[] = [];
    page.on('request', (request) => {
      if (request.url().endsWith('/execute')) executes.push(request.url());
    });

    await page.fill('#timeout', String(limits.maxTimeoutMs + 1));
    await page.click('#run');

    expect(await page.textContent('#status')).toBe(
      `The timeout must be a whole number from ${limits.minTimeoutMs} to ${limits.maxTimeoutMs} ms (this server's limits); "${limits.maxTimeoutMs + 1}" is not. Change it and run again.`,
    );
    expect(await page.getAttribute('#status', 'class')).toBe('status bad');
    expect(executes).toEqual([]);
    await page.context().close();
  });

  it('clears the previous answer when a run starts and shows the elapsed time and the queue while it runs', async () => {
    const page = await openPage();
    await page.selectOption('#example', 'error');
    expect(await runAndWait(page)).toMatch(/^HTTP 422 · ScriptError/);
    expect(await page.isVisible('#error-pane')).toBe(true);
    expect(await page.textContent('#stdout')).toBe('about to divide by zero\n');

    await typeScript(page, 'import time\ntime.sleep(1.5)\nprint("slept")\n');
    await page.click('#run');
    await page.waitForFunction(() => /^Running… (0\.[5-9]|[1-9]\d*\.\d) s$/.test(document.querySelector('#status')?.textContent ?? ''));
    // The runtime may still be getting ready when the first poll answers; the 1.5 s sleep leaves time to see it busy.
    await page.waitForFunction(() => (document.querySelector('#queue')?.textContent ?? '').startsWith('running in a runtime'));

    expect(await page.isHidden('#error-pane')).toBe(true);
    expect(await page.textContent('#stdout')).toBe('(empty)');
    expect(await page.textContent('#result')).toBe('(running…)');
    expect(await page.textContent('#request-id')).toBe('');
    expect(await page.$$('.cm-line.cm-error-line')).toHaveLength(0);
    expect(await page.textContent('#queue')).toMatch(/^running in a runtime; \d runtimes?: [1-9] busy, \d idle(, \d not ready)?$/);
    await page.screenshot({ path: join(SCREENSHOTS, 'running.png'), fullPage: true });
    await page.waitForFunction(() => document.querySelector('#status')?.textContent?.startsWith('HTTP '));
    expect(await page.textContent('#stdout')).toBe('slept\n');
    expect(await page.textContent('#queue')).toBe('');
    await page.context().close();
  });

  it('says the request waits for a runtime while every runtime is busy', async () => {
    const page = await openPage();
    const size = health.local.size as number;
    const blockers = Array.from({ length: size }, () => postExecute(server.url, { script: 'import time\ntime.sleep(4)\n', timeoutMs: 10000 }));
    await page.waitForTimeout(500);
    await typeScript(page, 'print("after the queue")\n');

    await page.click('#run');
    await page.waitForFunction(() => (document.querySelector('#queue')?.textContent ?? '').startsWith('waiting for a runtime'));

    expect(await page.textContent('#queue')).toMatch(new RegExp(`^waiting for a runtime: \\d+ requests? queued; ${size} runtimes: [1-9] busy, 0 idle(, \\d not ready)?$`));
    await page.waitForFunction(() => document.querySelector('#status')?.textContent?.startsWith('HTTP '), undefined, { timeout: 30000 });
    expect(await page.textContent('#stdout')).toBe('after the queue\n');
    expect((await Promise.all(blockers)).map((answer) => answer.status)).toEqual(Array(size).fill(200));
    await page.context().close();
  });

  it('shows no worker duration on an answer that never reached a worker (InvalidRequest 400)', async () => {
    const page = await openPage();
    const depth = (health.invoker.limits.maxNestingDepth as number) + 5;
    await page.fill('#input', `${'['.repeat(depth)}${']'.repeat(depth)}`);

    const status = await runAndWait(page);

    expect(status).toMatch(/^HTTP 400 · InvalidRequest · \d+ ms round trip$/);
    expect(await page.isVisible('#error-pane')).toBe(true);
    await page.context().close();
  });

  it('keeps the script, input and timeout across a reload', async () => {
    const page = await openPage();
    await typeScript(page, 'print("kept across reloads")\n');
    await page.fill('#input', '{"kept": true}');
    await page.fill('#timeout', '4200');

    await page.reload();
    await page.waitForSelector('.cm-content');

    expect(await editorText(page)).toBe('print("kept across reloads")\n');
    expect(await page.inputValue('#input')).toBe('{"kept": true}');
    expect(await page.inputValue('#timeout')).toBe('4200');
    await page.context().close();
  });

  it('asks before an example switch discards edits: dismissing keeps them, accepting loads the example', async () => {
    const page = await openPage();
    await page.selectOption('#example', 'main-input');
    expect(await editorText(page)).toContain('def main(input):');
    await typeScript(page, 'print("my edits")\n');
    const dialogs: string[] = [];

    page.once('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    await page.selectOption('#example', 'numpy');
    expect(dialogs).toEqual(['Discard your edits to "main(input) returns a result" and load "numpy statistics"?']);
    expect(await page.inputValue('#example')).toBe('main-input');
    expect(await editorText(page)).toBe('print("my edits")\n');

    page.once('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.accept();
    });
    await page.selectOption('#example', 'numpy');
    expect(dialogs).toHaveLength(2);
    expect(await page.inputValue('#example')).toBe('numpy');
    expect(await editorText(page)).toContain('import numpy as np');
    expect(await page.inputValue('#input')).toBe('{"seed": 42}');

    // No edits since: the next switch needs no question.
    await page.selectOption('#example', 'hello');
    expect(dialogs).toHaveLength(2);
    expect(await editorText(page)).toBe('print("Hello from the sandbox!")\n');
    await page.context().close();
  });

  it('copies a curl command that runs the same request against this server', async () => {
    const page = await openPage();
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
    const script = `def main(input):\n    print("it's", input["n"])\n    return input["n"] * 2\n`;
    await typeScript(page, script);
    await page.fill('#input', '{"n": 21}');
    await page.fill('#timeout', '5000');

    await page.click('#copy-curl');

    const command = await page.inputValue('#curl');
    expect(command).toBe(curlCommand({ origin: server.url, request: { script, input: { n: 21 }, timeoutMs: 5000 }, tokenRequired: false }));
    expect(command).not.toContain('Authorization');
    await page.waitForFunction(() => document.querySelector('#copy-curl')?.textContent === 'Copied');
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(command);
    const { stdout } = await run('bash', ['-c', command], { timeout: 30000 });
    const answer = JSON.parse(stdout) as Record<string, unknown>;
    expect(answer).toMatchObject({ ok: true, result: 42, stdout: "it's 21\n", errorType: null });
    await page.context().close();
  });

  it('builds the curl command with the bearer header read from $LOCAL_TOKEN when the server needs a token', () => {
    const command = curlCommand({ origin: 'http://127.0.0.1:3000', request: { script: "print('a')" }, tokenRequired: true });

    expect(command).toBe(
      [
        "curl -sS -X POST 'http://127.0.0.1:3000/execute'",
        "-H 'Content-Type: application/json'",
        '-H "Authorization: Bearer $LOCAL_TOKEN"',
        `--data-binary '{"script":"print('\\''a'\\'')"}'`,
      ].join(' \\\n  '),
    );
  });

  it('follows a dark system setting', async () => {
    const dark = await openPage({ colorScheme: 'dark' });
    const light = await openPage({ colorScheme: 'light' });

    const background = (page: Page): Promise<string[]> =>
      page.evaluate(() => ['body', '.pane', '.editor .cm-gutters'].map((selector) => getComputedStyle(document.querySelector(selector)!).backgroundColor));

    expect(await background(dark)).toEqual(['rgb(20, 23, 28)', 'rgb(29, 33, 41)', 'rgb(24, 28, 35)']);
    expect(await background(light)).toEqual(['rgb(246, 247, 249)', 'rgb(255, 255, 255)', 'rgb(245, 245, 245)']);
    expect(await dark.evaluate(() => getComputedStyle(document.body).color)).toBe('rgb(227, 230, 235)');
    await dark.screenshot({ path: join(SCREENSHOTS, 'dark.png'), fullPage: true });
    await light.screenshot({ path: join(SCREENSHOTS, 'light.png'), fullPage: true });
    await dark.context().close();
    await light.context().close();
  });

  it('raised no page errors', () => {
    expect(pageErrors).toEqual([]);
  });
});

describeWithBrowser('playground against a server with LOCAL_TOKEN', () => {
  const TOKEN = 'playground-test-token-0123456789';
  let server: RunningServer;
  let browser: Browser;

  beforeAll(async () => {
    server = await startServer({ env: { LOCAL_TOKEN: TOKEN } });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-background-networking', '--disable-gpu'] });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('asks for the token before the health report, then copies a curl command that runs with $LOCAL_TOKEN and holds no token', async () => {
    const page = await browser.newPage();
    await page.goto(server.url);
    await page.waitForSelector('.cm-content');
    expect(await page.textContent('#health')).toBe('Enter LOCAL_TOKEN to load the health report.');

    await page.fill('#token', TOKEN);
    await page.dispatchEvent('#token', 'change');
    await page.waitForSelector('#health[data-loaded="true"]');
    await typeScript(page, 'print("with the token")\n');
    await page.fill('#input', '');
    await page.fill('#timeout', '5000');
    await page.click('#copy-curl');

    const command = await page.inputValue('#curl');
    expect(command).toContain('-H "Authorization: Bearer $LOCAL_TOKEN"');
    expect(command).not.toContain(TOKEN);
    const { stdout } = await run('bash', ['-c', command], { env: { ...process.env, LOCAL_TOKEN: TOKEN }, timeout: 30000 });
    expect(JSON.parse(stdout)).toMatchObject({ ok: true, stdout: 'with the token\n' });
    const refused = await run('bash', ['-c', command], { env: { ...process.env, LOCAL_TOKEN: '' }, timeout: 30000 });
    expect(JSON.parse(refused.stdout)).toMatchObject({ ok: false, errorType: 'Unauthorized' });
    await page.close();
  });
});
