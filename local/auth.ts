/**
 * Who may use the local server. It executes any Python it is sent, so:
 * - on loopback without a token, other websites open in the user's browser
 *   must not reach it: requests carrying a foreign Origin (or
 *   Sec-Fetch-Site: cross-site) are refused, and the Host header must name
 *   a loopback address, which defeats DNS rebinding;
 * - with LOCAL_TOKEN, API calls need `Authorization: Bearer <token>`; the
 *   Invoke API also accepts a SigV4 Authorization whose access key id is the
 *   token, because the AWS CLI and SDKs can only send SigV4 (the signature
 *   itself is not verified: the token is the secret, like a Bearer token).
 *
 * The static playground files carry no secrets and stay public so the page
 * can load and ask for the token; artifact URLs are unguessable capability
 * URLs (random request id), like presigned S3 URLs, so <img> tags work.
 */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isLoopbackHost } from './config';

type AccessKind = 'static' | 'artifact' | 'api' | 'invoke';

interface AccessDenied {
  readonly status: number;
  readonly message: string;
}

interface AccessPolicy {
  readonly token: string | undefined;
  /** The bound host; when loopback, Host headers are checked. */
  readonly bindHost: string;
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function hostName(hostHeader: string): string {
  if (hostHeader.startsWith('[')) {
    const end = hostHeader.indexOf(']');
    return end > 0 ? hostHeader.slice(1, end) : hostHeader;
  }
  const colon = hostHeader.lastIndexOf(':');
  return colon >= 0 ? hostHeader.slice(0, colon) : hostHeader;
}

/**
 * With a token, every API and Invoke API call needs it, whoever the peer is:
 * behind a reverse proxy or a tunnel every caller is a loopback peer. The
 * in-process invoker signs with the token as its access key id.
 */
export function checkAccess(req: IncomingMessage, kind: AccessKind, policy: AccessPolicy): AccessDenied | undefined {
  const host = req.headers.host ?? '';
  if (policy.token === undefined && isLoopbackHost(policy.bindHost) && !isLoopbackHost(hostName(host))) {
    return {
      status: 403,
      message: `Host "${host.slice(0, 100)}" is not a loopback name; open the server as http://127.0.0.1 or http://localhost (this blocks DNS-rebinding attacks).`,
    };
  }
  const origin = req.headers.origin;
  const fetchSite = req.headers['sec-fetch-site'];
  const foreignOrigin = origin !== undefined && origin !== 'null' && origin !== `http://${host}`;
  if (kind !== 'static' && kind !== 'artifact' && (foreignOrigin || fetchSite === 'cross-site' || origin === 'null')) {
    return {
      status: 403,
      message: 'Cross-site requests are refused: another website must not run code on this machine through your browser.',
    };
  }
  if (policy.token === undefined || kind === 'static' || kind === 'artifact') {
    return undefined;
  }
  const authorization = req.headers.authorization ?? '';
  const bearer = /^Bearer\s+(\S+)$/i.exec(authorization);
  if (bearer !== null && sameSecret(bearer[1], policy.token)) {
    return undefined;
  }
  if (kind === 'invoke') {
    const sigv4 = /^AWS4-HMAC-SHA256\s+Credential=([^/,\s]+)\//.exec(authorization);
    if (sigv4 !== null && sameSecret(sigv4[1], policy.token)) {
      return undefined;
    }
    return {
      status: 403,
      message: 'This server requires LOCAL_TOKEN: sign with AWS_ACCESS_KEY_ID set to the token, or send Authorization: Bearer <token>.',
    };
  }
  return { status: 401, message: 'This server requires LOCAL_TOKEN: send the header Authorization: Bearer <token>.' };
}
