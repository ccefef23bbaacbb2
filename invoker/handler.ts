/**
 * The invoker as Lambda runs it: everything here happens once per execution
 * environment, at init. The environment is read once, the clients are built
 * once (their connections are reused across invocations), and the handler
 * itself is invoker/invoker.ts.
 */
import { S3Client } from '@aws-sdk/client-s3';
import { ConfigError } from '../contract';
import { readInvokerConfig } from './config';
import { createLambdaClient } from './executor-client';
import { createInvoker, createMisconfiguredInvoker, type InvokerHandler } from './invoker';
import { createObservability } from './observability';

const observability = createObservability({
  serviceName: process.env.POWERTOOLS_SERVICE_NAME,
  metricsNamespace: process.env.POWERTOOLS_METRICS_NAMESPACE,
});

function initialise(): InvokerHandler {
  try {
    const config = readInvokerConfig(process.env);
    const s3 = config.artifacts.kind === 's3' ? new S3Client({}) : undefined;
    return createInvoker(config, { lambda: createLambdaClient(config), s3 }, observability);
  } catch (error) {
    // A bad configuration does not crash the init (an opaque 502): every request gets a 500 naming the variable.
    if (!(error instanceof ConfigError)) throw error;
    observability.logger.error('invalid configuration', { error: error.message });
    return createMisconfiguredInvoker(error, observability);
  }
}

export const handler = initialise();
