// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// Protocol cores (wire, proto, crypto) are sans-I/O: bytes and `now` in, bytes, events and
// deadlines out. These modules and globals are what would let I/O or a clock leak in.
const ioModules = [
  'fs',
  'fs/promises',
  'net',
  'dgram',
  'tls',
  'http',
  'https',
  'http2',
  'child_process',
  'cluster',
  'worker_threads',
  'timers',
  'timers/promises',
  'os',
  'readline',
  'process',
  'dns',
];
const sansIo = {
  files: ['src/wire/**/*.ts', 'src/proto/**/*.ts', 'src/crypto/**/*.ts'],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        paths: ioModules.flatMap((m) => [
          { name: m, message: 'Protocol cores are sans-I/O: do I/O in src/io/ and pass bytes in.' },
          {
            name: `node:${m}`,
            message: 'Protocol cores are sans-I/O: do I/O in src/io/ and pass bytes in.',
          },
        ]),
        patterns: [
          {
            group: ['**/io/**', '**/gateway/**', '**/cli/**', '**/api/**'],
            message: 'Cores must not depend on I/O layers.',
          },
        ],
      },
    ],
    'no-restricted-globals': [
      'error',
      ...[
        'setTimeout',
        'setInterval',
        'setImmediate',
        'clearTimeout',
        'clearInterval',
        'queueMicrotask',
        'fetch',
        'process',
      ].map((name) => ({
        name,
        message:
          'Protocol cores take time as a parameter and return deadlines; no timers or process state.',
      })),
    ],
    'no-restricted-properties': [
      'error',
      { object: 'Date', property: 'now', message: 'Pass `now` in; cores never read the clock.' },
      {
        object: 'performance',
        property: 'now',
        message: 'Pass `now` in; cores never read the clock.',
      },
      { object: 'Math', property: 'random', message: 'Randomness is a parameter of a core.' },
    ],
    'no-restricted-syntax': [
      'error',
      {
        selector: "NewExpression[callee.name='Date'][arguments.length=0]",
        message: 'Pass `now` in; cores never read the clock.',
      },
    ],
  },
};

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'build/', 'native/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        console: 'readonly',
        process: 'readonly',
        Buffer: 'readonly',
        URL: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        setImmediate: 'readonly',
        TextEncoder: 'readonly',
        TextDecoder: 'readonly',
        AbortController: 'readonly',
        queueMicrotask: 'readonly',
        fetch: 'readonly',
        performance: 'readonly',
        structuredClone: 'readonly',
        crypto: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    files: ['src/wire/**/*.ts', 'src/proto/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'error' },
  },
  sansIo,
);
