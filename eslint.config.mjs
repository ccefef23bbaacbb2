// ESLint for every TypeScript and JavaScript file of the repository: the
// recommended rules of ESLint and typescript-eslint (npm run lint runs it
// after the type check).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: ['node_modules/**', 'cdk.out/**', '**/cdk.out/**', 'coverage/**', '**/*.d.ts', 'local/playground/dist/**'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: 'module',
      globals: {
        process: 'readonly', console: 'readonly', Buffer: 'readonly', __dirname: 'readonly', require: 'readonly',
        module: 'writable', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly',
        clearInterval: 'readonly', setImmediate: 'readonly', URL: 'readonly', fetch: 'readonly',
        AbortController: 'readonly', AbortSignal: 'readonly', TextEncoder: 'readonly', TextDecoder: 'readonly',
        document: 'readonly', window: 'readonly', localStorage: 'readonly', navigator: 'readonly',
        structuredClone: 'readonly', queueMicrotask: 'readonly', performance: 'readonly', Response: 'readonly',
        Request: 'readonly', Headers: 'readonly', crypto: 'readonly',
      },
    },
    rules: {
      // Unused names are errors, except a deliberately ignored _parameter.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    // Jest's configuration files are CommonJS, as jest loads them.
    files: ['**/*.js'],
    languageOptions: { sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // Tests and the deployment checks read JSON answers and synthesized
    // CloudFormation templates, whose shape is what they assert.
    files: ['test/**', 'scripts/verify/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
);
