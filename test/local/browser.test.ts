/**
 * The playground in real headless Chromium (Debian's chromium through
 * playwright-core; no browser is ever downloaded): type a script, run it,
 * see the output and the chart artifact inline; see a failing line marked.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startServer, type RunningServer } from './server-process';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);

describe('playground in headless Chromium', () => {
  it('has a browser to run in (CI must have Debian chromium; a missing one fails there instead of skipping)', () => {
    if (!haveChromium && process.env.CI !== 'true') {
      console.warn(`${CHROMIUM} not found (install Debian chromium); the browser tests are skipped outside CI.`);
      return;
    }
    expect(haveChromium).toBe(true);
  });

  const describeWithBrowser = haveChromium ? describe : describe.skip;

  describeWithBrowser('with the local server', () => {
    let server: RunningServer;
    let browser: Browser;
    let page: Page;
    const externalRequests: string[] = [];
    const pageErrors: string[] = [];

    beforeAll(async () => {
      server = await startServer();
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-gpu'],
      });
      page = await browser.newPage();
      // The page must work with no network: anything not served by the local server is refused and recorded.
      await page.route('**/*', async (route) => {
        const url = route.request().url();
        if (url.startsWith(server.url) || url.startsWith('data:')) {
          await route.continue();
        } else {
          externalRequests.push(url);
          await route.abort();
        }
      });
      page.on('pageerror', (error) => pageErrors.push(error.message));
      await page.goto(server.url);
      await page.waitForSelector('.cm-content');
    });

    afterAll(async () => {
      await browser?.close();
      await server?.stop();
    });

    it('runs a typed script and shows its stdout, result and the chart inline', async () => {
      const script = [
        'import matplotlib.pyplot as plt',
        'def main(input):',
        '    print("typed in the browser", input["n"])',
        '    plt.bar(["a", "b", "c"], [3, 1, 2])',
        '    plt.savefig("outputs/bars.png")',
        '    return {"double": input["n"] * 2}',
        '',
      ].join('\n');
      await page.click('.cm-content');
      await page.keyboard.press('Control+A');
      await page.keyboard.press('Delete');
      // insertText types the text as the user's input, without the editor's auto-indent adding to it.
      await page.keyboard.insertText(script);
      await page.fill('#input', '{"n": 21}');
      await page.fill('#timeout', '15000');
      await page.click('#run');
      await page.waitForFunction(() => document.querySelector('#status')?.textContent?.startsWith('HTTP '));
      expect(await page.textContent('#status')).toMatch(/^HTTP 200 · ok · \d+ ms in the worker · \d+ ms round trip$/);
      expect(await page.textContent('#stdout')).toBe('typed in the browser 21\n');
      expect(JSON.parse((await page.textContent('#result')) ?? '')).toEqual({ double: 42 });
      expect(await page.isHidden('#error-pane')).toBe(true);
      const image = page.locator('#artifacts img.artifact-image').first();
      await image.waitFor();
      await page.waitForFunction(() => {
        const img = document.querySelector<HTMLImageElement>('#artifacts img.artifact-image');
        return img !== null && img.complete && img.naturalWidth > 0;
      });
      expect(await image.getAttribute('alt')).toBe('bars.png');
      const size = await image.evaluate((img: HTMLImageElement) => [img.naturalWidth, img.naturalHeight]);
      expect(size[0]).toBeGreaterThan(100);
      expect(size[1]).toBeGreaterThan(100);
    });

    it('runs an example with Ctrl+Enter and highlights the failing line of its traceback', async () => {
      // The previous test's script is an unsaved edit: the page asks before discarding it.
      page.once('dialog', (dialog) => void dialog.accept());
      await page.selectOption('#example', 'error');
      await page.click('.cm-content');
      await page.keyboard.press('Control+Enter');
      await page.waitForFunction(() => document.querySelector('#status')?.textContent?.startsWith('HTTP 422'));
      expect(await page.textContent('#status')).toMatch(/^HTTP 422 · ScriptError/);
      expect(await page.isVisible('#error-pane')).toBe(true);
      expect(await page.textContent('#error')).toMatch(/ZeroDivisionError/);
      expect(await page.textContent('#traceback')).toContain('File "<script>", line 2, in average');
      expect(await page.textContent('#error-line')).toBe('Failed at line 2 (highlighted in the editor).');
      const highlighted = page.locator('.cm-line.cm-error-line');
      expect(await highlighted.count()).toBe(1);
      expect(await highlighted.textContent()).toBe('    return sum(values) / len(values)');
      expect(await page.textContent('#stdout')).toBe('about to divide by zero\n');
    });

    it('loaded nothing from outside the local server and raised no page errors', () => {
      expect(externalRequests).toEqual([]);
      expect(pageErrors).toEqual([]);
    });
  });
});
