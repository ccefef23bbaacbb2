const base = require('./jest.config');
const slowSuites = require('./test/slow-suites');

/** @type {import('jest').Config} `npm run test:reliability`: only the suites `npm test` leaves out. */
module.exports = {
  ...base,
  testMatch: slowSuites.map((path) => (path.endsWith('/') ? `<rootDir>/${path}**/*.test.ts` : `<rootDir>/${path}`)),
  testPathIgnorePatterns: ['/node_modules/'],
};
