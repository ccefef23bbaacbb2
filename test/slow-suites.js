/**
 * The suites `npm test` leaves to `npm run test:reliability`: the long load,
 * fault and fuzz runs and every other suite that took over 30 s (jest's
 * per-file times on the 2-core CI machine; README "Development" has the
 * numbers). `npm test` is what a developer runs before every commit;
 * `.ci/run` runs both. One list, read by jest.config.js (to leave them out)
 * and jest.reliability.config.js (to run only them); the Python side's long
 * pass is `run-tests.sh --lambda-profile` (scripts/test.sh).
 */
module.exports = [
  'test/reliability/',
  'test/local/faults.test.ts',
  'test/local/capacity.test.ts',
  'test/local/coexist.test.ts',
  'test/local/verify-deployment.test.ts',
  'test/local/tenancy.test.ts',
  'test/local/playground.test.ts',
  'test/github/app-wiring.test.ts',
  'test/github/execution-policy.test.ts',
  'test/infra/seal-key.test.ts',
  'test/infra/nag.test.ts',
];
