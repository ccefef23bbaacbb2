import { ConfigError, ExecutorError, RequestError, base64DecodedBytes, headerValue } from '../../contract';

describe('error classes', () => {
  it('carry their name, status and errorType', () => {
    const request = new RequestError(405, 'MethodNotAllowed', 'Method GET is not allowed on /execute; use POST', { Allow: 'POST' });
    expect([request.name, request.status, request.errorType, request.headers]).toEqual(['RequestError', 405, 'MethodNotAllowed', { Allow: 'POST' }]);
    expect(request).toBeInstanceOf(Error);

    const executor = new ExecutorError(429, 'Throttled', 'Too many executions are running right now; retry after a short wait.', { sdkError: 'TooManyRequestsException' });
    expect([executor.name, executor.status, executor.errorType, executor.detail]).toEqual(['ExecutorError', 429, 'Throttled', { sdkError: 'TooManyRequestsException' }]);

    expect(new ConfigError('X must be set.').name).toBe('ConfigError');
  });
});

describe('base64DecodedBytes', () => {
  it.each([0, 1, 2, 3, 4, 5, 1000, 1_048_576])('gives the decoded size of %i bytes without decoding', (size) => {
    const encoded = Buffer.alloc(size, 7).toString('base64');
    expect(base64DecodedBytes(encoded)).toBe(size);
    expect(base64DecodedBytes(encoded.replace(/(.{76})/g, '$1\n'))).toBe(size);
  });
});

describe('headerValue', () => {
  it('finds a header whatever its case and ignores absent maps', () => {
    expect(headerValue({ 'content-TYPE': 'application/json' }, 'Content-Type')).toBe('application/json');
    expect(headerValue({ Other: 'x' }, 'content-type')).toBeUndefined();
    expect(headerValue(null, 'content-type')).toBeUndefined();
  });
});
