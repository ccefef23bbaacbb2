export * from './types';
export * from './errors';
export * from './limits';
export * from './messages';
export * from './status';
export * from './validate';
export * from './response';
export * from './http';
