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

    it.each(['light', 'dark'] as const)('colours Python readably in the %s scheme (every token at least 4.5:1 against the editor)', async (scheme) => {
      const themed = await browser.newPage({ colorScheme: scheme });
      try {
        await themed.route('**/*', (route) => (route.request().url().startsWith(server.url) ? route.continue() : route.abort()));
        await themed.goto(server.url);
        await themed.waitForSelector('.cm-content');
        await themed.click('.cm-content');
        await themed.keyboard.press('Control+A');
        await themed.keyboard.press('Delete');
        await themed.keyboard.insertText('import os  # a comment\ndef main(input):\n    return {"n": 42, "ok": True, "s": "x\\n"}\n');
        const tokens = await themed.evaluate(() => {
          const rgb = (text: string): number[] => (text.match(/[\d.]+/g) ?? []).map(Number);
          const background = (element: Element | null): number[] => {
            for (let node = element; node; node = node.parentElement) {
              const [r, g, b, a = 1] = rgb(getComputedStyle(node).backgroundColor);
              if (a > 0) return [r, g, b];
            }
            return [255, 255, 255];
          };
          const luminance = ([r, g, b]: number[]): number => {
            const [R, G, B] = [r, g, b].map((c) => (c / 255 <= 0.03928 ? c / 255 / 12.92 : ((c / 255 + 0.055) / 1.055) ** 2.4));
            return 0.2126 * R + 0.7152 * G + 0.0722 * B;
          };
          const contrast = (a: number[], b: number[]): number => {
            const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
            return (hi + 0.05) / (lo + 0.05);
          };
          const editor = document.querySelector('.cm-content');
          return Array.from(document.querySelectorAll('.cm-content .cm-line span')).map((span) => ({
            text: span.textContent ?? '',
            color: getComputedStyle(span).color,
            contrast: contrast(rgb(getComputedStyle(span).color), background(editor)),
          }));
        });
        // The sample has keywords, a definition, a string, a number, a boolean and a comment, each in its own colour.
        expect(new Set(tokens.map((token) => token.color)).size).toBeGreaterThanOrEqual(5);
        for (const token of tokens) {
          expect([token.text, token.contrast >= 4.5]).toEqual([token.text, true]);
        }
      } finally {
        await themed.close();
      }
    });

    it('loaded nothing from outside the local server and raised no page errors', () => {
      expect(externalRequests).toEqual([]);
      expect(pageErrors).toEqual([]);
    });
  });
});
