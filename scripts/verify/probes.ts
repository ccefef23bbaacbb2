/**
 * The scripts verify-deployment sends through the API. Each one tries
 * something a hostile script would, and returns what happened instead of
 * raising, so the report can say which layer stopped it. None of them prints
 * or returns a secret value: only the names of variables that should not be
 * there.
 */

/** Where the network probes aim: real outside addresses in the cloud, a canary on loopback locally. */
export interface NetworkTargets {
  /** A name a script must not be able to resolve. */
  readonly dnsName: string;
  /** An address and port a script must not be able to connect to. */
  readonly tcpHost: string;
  readonly tcpPort: number;
  /** An S3-style URL of a bucket that is not the stack's own. */
  readonly otherBucketUrl: string;
}

/** Runs `attempt()` and reports either what it returned or which error stopped it. */
const TRY_HELPER = `
def attempt(action):
    try:
        return {"reached": True, "answer": action()}
    except BaseException as error:
        return {"reached": False, "blockedBy": type(error).__name__, "message": str(error)[:200]}
`;

export const CREDENTIALS_PROBE = `
import os, re

def main():
    names = sorted(name for name in os.environ
                   if name.startswith("AWS_") or any(word in name for word in ("SECRET", "TOKEN", "PASSWORD")))
    leaked = {"environment": names}
    for pid in ("1", str(os.getppid())):
        try:
            with open("/proc/%s/environ" % pid, "rb") as handle:
                found = re.findall(rb"(AWS_[A-Z_]*(?:KEY|TOKEN|SECRET)[A-Z_]*)=", handle.read())
            leaked["/proc/%s/environ" % pid] = sorted({name.decode() for name in found})
        except BaseException as error:
            leaked["/proc/%s/environ" % pid] = "refused: " + type(error).__name__
    return leaked
`;

export function dnsProbe(name: string): string {
  return `import socket\n${TRY_HELPER}\ndef main():\n    return attempt(lambda: socket.getaddrinfo(${JSON.stringify(name)}, 443)[0][4][0])\n`;
}

export function tcpProbe(host: string, port: number): string {
  return (
    `import socket\n${TRY_HELPER}\n` +
    `def connect():\n    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as connection:\n` +
    `        connection.settimeout(3)\n        connection.connect((${JSON.stringify(host)}, ${port}))\n        return "connected"\n\n` +
    `def main():\n    return attempt(connect)\n`
  );
}

export function otherBucketProbe(url: string): string {
  return (
    `import urllib.request\n${TRY_HELPER}\n` +
    `def put():\n    request = urllib.request.Request(${JSON.stringify(url)}, data=b"verify-deployment", method="PUT")\n` +
    `    with urllib.request.urlopen(request, timeout=5) as answer:\n        return answer.status\n\n` +
    `def main():\n    return attempt(put)\n`
  );
}

/** Lambda's Runtime API listens on 127.0.0.1:9001; the variable naming it must be gone too. */
export const RUNTIME_API_PROBE = `
import os, urllib.request
${TRY_HELPER}
def next_event():
    with urllib.request.urlopen("http://127.0.0.1:9001/2018-06-01/runtime/invocation/next", timeout=3) as answer:
        return answer.status

def main():
    return {"variable": os.environ.get("AWS_LAMBDA_RUNTIME_API"), "next": attempt(next_event)}
`;

/**
 * Something that differs between execution environments and survives between
 * executions in one: the kernel's boot id (one per microVM) and the host name.
 */
export const ENVIRONMENT_FINGERPRINT_PROBE = `
import socket

def main():
    with open("/proc/sys/kernel/random/boot_id") as handle:
        boot_id = handle.read().strip()
    return {"bootId": boot_id, "hostname": socket.gethostname()}
`;
