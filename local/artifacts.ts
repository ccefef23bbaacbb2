/**
 * Artifacts in local mode: the invoker writes each execution's files into
 * `<root>/<requestId>/` (LOCAL_ARTIFACT_DIR), one flat file per artifact named
 * by a digest of the artifact's name, and answers with URLs
 * `/artifacts/<requestId>/<name>` whose name is the one the cloud uses too
 * (sub-folders kept); this module serves them read-only and deletes them after
 * the retention time, as the S3 lifecycle rule does in the cloud.
 *
 * The files are written by untrusted scripts, so they are served as inert
 * downloads: a sandboxing Content-Security-Policy, nosniff, no directory
 * listing, no symlinks, nothing outside the root.
 */
import { createReadStream, promises as fs, realpathSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, resolve, sep } from 'node:path';
import { artifactName } from '../contract';
import { storedArtifactFileName } from '../invoker/artifacts';
import { sendJson } from './http-util';

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.svg': 'image/svg+xml',
  '.pdf': 'application/pdf',
  '.csv': 'text/csv; charset=utf-8',
  '.tsv': 'text/tab-separated-values; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.log': 'text/plain; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.json': 'application/json',
  '.html': 'text/html; charset=utf-8',
  '.xml': 'application/xml',
  '.parquet': 'application/vnd.apache.parquet',
  '.xlsx': 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  '.zip': 'application/zip',
};

/** Types a browser may show inline; everything else is sent as an attachment. */
const INLINE_TYPES = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp', 'image/svg+xml', 'application/pdf', 'application/json']);

export function contentTypeFor(name: string): string {
  return CONTENT_TYPES[extname(name).toLowerCase()] ?? 'application/octet-stream';
}

const REQUEST_ID_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;

/** The local server's artifact files: one folder per request under its root, served at /artifacts and swept after the retention. */
export class LocalArtifactFolder {
  private sweepTimer: NodeJS.Timeout | undefined;
  private readonly realRoot: string;

  constructor(
    readonly root: string,
    private readonly retentionMs: number,
  ) {
    this.realRoot = realpathSync(root);
  }

  startSweeping(): void {
    const intervalMs = Math.max(1000, Math.min(60000, Math.floor(this.retentionMs / 4)));
    this.sweepTimer = setInterval(() => void this.sweep(), intervalMs);
    this.sweepTimer.unref();
  }

  stopSweeping(): void {
    clearInterval(this.sweepTimer);
  }

  /** Deletes every execution folder older than the retention time; returns how many. */
  async sweep(now = Date.now()): Promise<number> {
    let removed = 0;
    let entries: string[];
    try {
      entries = await fs.readdir(this.root);
    } catch {
      return 0;
    }
    for (const entry of entries) {
      const path = join(this.root, entry);
      try {
        const stat = await fs.lstat(path);
        if (now - stat.mtimeMs >= this.retentionMs) {
          await fs.rm(path, { recursive: true, force: true });
          removed += 1;
        }
      } catch {
        // Removed concurrently; nothing to do.
      }
    }
    return removed;
  }

  /** Serves GET/HEAD `/artifacts/<requestId>/<name>`; `rest` is the path after `/artifacts/`. */
  async serve(req: IncomingMessage, res: ServerResponse, rest: string): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendJson(res, 405, { error: `Method ${req.method} is not allowed on artifacts; use GET.`, errorType: 'MethodNotAllowed' }, { Allow: 'GET, HEAD' });
      return;
    }
    const notFound = (): void =>
      sendJson(res, 404, {
        error: 'No such artifact; artifacts are deleted after ARTIFACT_RETENTION_MS and when the server stops.',
        errorType: 'NotFound',
      });
    const slash = rest.indexOf('/');
    if (slash <= 0) {
      notFound();
      return;
    }
    let requestId: string;
    let segments: string[];
    try {
      requestId = decodeURIComponent(rest.slice(0, slash));
      segments = rest
        .slice(slash + 1)
        .split('/')
        .map((segment) => decodeURIComponent(segment));
    } catch {
      notFound();
      return;
    }
    // A segment holding an encoded '/' would make a different name than the URL shows.
    const name = segments.some((segment) => segment.includes('/')) ? undefined : segments.join('/');
    if (!REQUEST_ID_PATTERN.test(requestId) || name === undefined || artifactName(name) !== name) {
      notFound();
      return;
    }
    const candidate = resolve(this.realRoot, requestId, storedArtifactFileName(name));
    try {
      // realpath resolves any symlink on the way; the result must still be inside the root.
      const real = await fs.realpath(candidate);
      if (real !== candidate || !real.startsWith(this.realRoot + sep)) {
        notFound();
        return;
      }
      const stat = await fs.lstat(real);
      if (!stat.isFile()) {
        notFound();
        return;
      }
      const fileName = segments[segments.length - 1];
      const contentType = contentTypeFor(fileName);
      const disposition = INLINE_TYPES.has(contentType) ? 'inline' : 'attachment';
      res.writeHead(200, {
        'Content-Type': contentType,
        'Content-Length': String(stat.size),
        'Content-Disposition': `${disposition}; filename*=UTF-8''${encodeURIComponent(fileName)}`,
        'Content-Security-Policy': "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox",
        'X-Content-Type-Options': 'nosniff',
        'Cache-Control': 'private, max-age=300',
        'Cross-Origin-Resource-Policy': 'same-origin',
      });
      if (req.method === 'HEAD') {
        res.end();
        return;
      }
      const stream = createReadStream(real);
      stream.on('error', () => res.destroy());
      stream.pipe(res);
    } catch {
      notFound();
    }
  }
}
