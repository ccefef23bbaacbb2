/**
 * npm run verify-deployment -- --stack <name> [--region <region>]
 * npm run verify-deployment -- --endpoint http://127.0.0.1:3000
 *
 * Checks a deployed stack for real, with the caller's AWS credentials (or the
 * local server, with the same code): health and the isolation layers as the
 * executor probed them, init duration and memory from Lambda's REPORT lines,
 * a short set of hostile scripts (credentials, DNS, TCP, another bucket, the
 * Runtime API), and tenant isolation. Prints one line per fact, marked
 * VERIFIED, FAILED or NOT VERIFIED with the reason; exits 1 when a fact
 * failed, 2 when the target could not be checked at all.
 */
import { runChecks, type Fact } from './verify/checks';
import { deployedTarget, localTarget, VerifyTargetError, type Target } from './verify/targets';

/** The command line is wrong; the message says how to call it. */
class VerifyUsageError extends Error {
  override readonly name = 'VerifyUsageError';
}

const USAGE =
  'Use: npm run verify-deployment -- --stack <stack name> [--region <region>] [--log-hours <hours>] [--json], ' +
  'or npm run verify-deployment -- --endpoint <local server URL> [--function-name <name>] [--json] (LOCAL_TOKEN is sent when set).';

interface Options {
  readonly stack?: string;
  readonly endpoint?: string;
  readonly region?: string;
  readonly functionName: string;
  readonly logHours: number;
  readonly json: boolean;
}

function parseArguments(argv: readonly string[]): Options {
  const values: Record<string, string> = {};
  let json = false;
  for (let index = 0; index < argv.length; index += 1) {
    const argument = argv[index];
    if (argument === '--json') {
      json = true;
      continue;
    }
    const name = /^--(stack|endpoint|region|function-name|log-hours)$/.exec(argument)?.[1];
    const value = argv[index + 1];
    if (name === undefined || value === undefined || value.startsWith('--')) {
      throw new VerifyUsageError(`Unknown or incomplete argument '${argument}'. ${USAGE}`);
    }
    values[name] = value;
    index += 1;
  }
  if ((values.stack === undefined) === (values.endpoint === undefined)) {
    throw new VerifyUsageError(`Give exactly one of --stack and --endpoint. ${USAGE}`);
  }
  const logHours = Number(values['log-hours'] ?? '24');
  if (!Number.isInteger(logHours) || logHours < 1 || logHours > 24 * 14) {
    throw new VerifyUsageError(`--log-hours must be a whole number of hours from 1 to 336, but it is '${values['log-hours']}'.`);
  }
  return { stack: values.stack, endpoint: values.endpoint, region: values.region, functionName: values['function-name'] ?? 'workflow-python-executor', logHours, json };
}

const MARKS: Record<Fact['status'], string> = { verified: 'VERIFIED    ', failed: 'FAILED      ', 'not verified': 'NOT VERIFIED' };

function printReport(label: string, facts: readonly Fact[]): void {
  const lines = [`verify-deployment: ${label}`, ''];
  for (const entry of facts) lines.push(`${MARKS[entry.status]}  ${entry.fact}${entry.detail === '' ? '' : ` - ${entry.detail}`}`);
  const count = (status: Fact['status']): number => facts.filter((entry) => entry.status === status).length;
  lines.push('', `${count('verified')} verified, ${count('failed')} failed, ${count('not verified')} not verified.`);
  lines.push('Please report what this printed (without your account id if you prefer) when you open an issue.');
  process.stdout.write(`${lines.join('\n')}\n`);
}

async function main(): Promise<number> {
  const options = parseArguments(process.argv.slice(2));
  const target: Target =
    options.endpoint !== undefined
      ? await localTarget({ endpoint: options.endpoint, functionName: options.functionName, token: process.env.LOCAL_TOKEN || undefined })
      : await deployedTarget({ stackName: options.stack!, region: options.region, logWindowHours: options.logHours });
  try {
    const facts = await runChecks(target);
    if (options.json) {
      process.stdout.write(`${JSON.stringify({ target: target.label, kind: target.kind, facts }, null, 1)}\n`);
    } else {
      printReport(target.label, facts);
    }
    return facts.some((entry) => entry.status === 'failed') ? 1 : 0;
  } finally {
    await target.close();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof VerifyUsageError || error instanceof VerifyTargetError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    throw error;
  },
);
