// ESLint for the web UI's own modules and its browser tests (`npx eslint`, run by .ci/run).
import js from '@eslint/js';
import globals from 'globals';

export default [
  { ignores: ['static/vendor/**', 'node_modules/**'] },
  js.configs.recommended,
  {
    files: ['static/**/*.js'],
    languageOptions: { sourceType: 'module', globals: globals.browser },
    // A template a reader can follow: long conditions and texts go into named helpers.
    rules: { 'max-len': ['error', { code: 200 }] },
  },
  {
    files: ['tests/**/*.mjs', 'bench/**/*.mjs', 'bench/**/*.js', 'eslint.config.js'],
    languageOptions: { sourceType: 'module', globals: { ...globals.node, ...globals.browser } },
  },
];
