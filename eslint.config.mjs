// Lint rules for the package: typescript-eslint's recommended type-aware set on our TypeScript,
// plain recommended rules on the few JavaScript build scripts.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', '.build/', '.userdir/', '.cache/', 'test/artifacts/'] },
  js.configs.recommended,
  {
    files: ['**/*.ts'],
    extends: [...tseslint.configs.recommended],
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      eqeqeq: ['error', 'always'],
      // `const node = this` is the Node-RED idiom for node constructors.
      '@typescript-eslint/no-this-alias': ['error', { allowedNames: ['node'] }],
    },
  },
  {
    // The domain core builds objects per reading, charge and point: a literal that begins with a spread gives
    // each copy a V8 shape of its own on Node 20 (see nodes/core/shapes.ts).
    files: ['nodes/core/**/*.ts', 'nodes/meter/**/*.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: 'ObjectExpression > SpreadElement:first-child',
          message:
            'A leading spread gives each object its own shape on Node 20: use extend() or copy() from nodes/core/shapes.',
        },
      ],
    },
  },
  {
    // Function node bodies of the tenant API example: Node-RED runs each as the body of an async function,
    // with these globals (crypto from the node's Setup tab; the core functions that a "// @core <name>" line
    // embeds at build, scripts/tenant-api/core-source.mjs).
    files: ['flows/tenant/functions/*.js'],
    languageOptions: {
      sourceType: 'script',
      parserOptions: { ecmaFeatures: { globalReturn: true } },
      globals: {
        msg: 'writable',
        env: 'readonly',
        node: 'readonly',
        flow: 'readonly',
        crypto: 'readonly',
        Buffer: 'readonly',
        Intl: 'readonly',
        parseMajorAmountIn: 'readonly',
        parseInstant: 'readonly',
        MINOR_UNIT_DIGITS: 'readonly',
      },
    },
  },
  {
    files: ['**/*.mjs', '**/*.js'],
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', URL: 'readonly', setTimeout: 'readonly' },
    },
  },
);
