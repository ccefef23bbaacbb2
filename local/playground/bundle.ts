/**
 * Builds the playground's assets in memory at server start: the page, its
 * stylesheet and one JavaScript bundle (CodeMirror included) made with the
 * esbuild API, so the page needs no CDN and no network at all.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';

interface PlaygroundAsset {
  readonly contentType: string;
  readonly body: Buffer;
}

export interface PlaygroundAssets {
  /** URL path to asset. */
  readonly assets: ReadonlyMap<string, PlaygroundAsset>;
}

interface PlaygroundOptions {
  /** Shows the token field; the token itself never goes into the page. */
  readonly tokenRequired: boolean;
}

export async function bundlePlayground(options: PlaygroundOptions): Promise<PlaygroundAssets> {
  const result = await build({
    entryPoints: [join(__dirname, 'app.ts')],
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'browser',
    target: ['es2020'],
    minify: true,
    legalComments: 'none',
    logLevel: 'silent',
  });
  const script = result.outputFiles[0];
  if (script === undefined) {
    throw new Error('esbuild produced no playground bundle.');
  }
  const html = readFileSync(join(__dirname, 'index.html'), 'utf8').replace('__TOKEN_REQUIRED__', String(options.tokenRequired));
  const page: PlaygroundAsset = { contentType: 'text/html; charset=utf-8', body: Buffer.from(html) };
  return {
    assets: new Map<string, PlaygroundAsset>([
      ['/', page],
      ['/index.html', page],
      ['/playground.js', { contentType: 'text/javascript; charset=utf-8', body: Buffer.from(script.contents) }],
      ['/playground.css', { contentType: 'text/css; charset=utf-8', body: readFileSync(join(__dirname, 'style.css')) }],
    ]),
  };
}
