/** Names more than one part relies on, each said once. */

/**
 * The executor function's name: the deployed function's when the stack has
 * no name prefix (with one it is `<prefix>-` followed by this), and the local
 * server's one function, so that the same `aws lambda invoke --function-name`
 * works against both.
 */
export const DEFAULT_EXECUTOR_FUNCTION_NAME = 'workflow-python-executor';

/** The region the local server's Lambda Invoke API names in its ARNs and its clients sign for. */
export const LOCAL_REGION = 'us-east-1';
