// ESLint for the browser code (reflex_session/reflex/*.js, the demo's demo/*.js), its tests, and
// the test OpenID provider (tests/oidc/provider/server.js).
// Run from the repository root, so the package's files are inside ESLint's base path:
// `npm run lint` in tests/js does (scripts/test.sh runs it).
import js from '@eslint/js';
import globals from 'globals';

const strict = {
  ...js.configs.recommended.rules,
  curly: ['error', 'multi-line'],
  eqeqeq: ['error', 'always'],
  'no-implicit-globals': 'error',
  'no-shadow': ['error', { builtinGlobals: false }],
  'no-var': 'error',
  'prefer-const': 'error',
  'no-unused-vars': ['error', { args: 'after-used', ignoreRestSiblings: true }],
  // the page must never read a cookie's value (ours are HttpOnly anyway): the one read of
  // document.cookie, for the names only, is marked where it happens
  'no-restricted-syntax': [
    'error',
    {
      selector:
        "MemberExpression[property.name='cookie']:not(AssignmentExpression > MemberExpression.left)",
      message: 'do not read cookies: the session layer handles cookie names only',
    },
    {
      selector: "MemberExpression[property.name=/^(localStorage|indexedDB)$/]",
      message: 'the session layer keeps nothing in persistent storage',
    },
  ],
};

export default [
  { ignores: ['tests/js/node_modules/**', 'tests/oidc/provider/node_modules/**'] },
  {
    // the package's browser code: no browser globals at all, every browser object is injected
    // (so node --test can fake it) ...
    files: ['reflex_session/**/*.js', 'demo/**/*.js'],
    languageOptions: { ecmaVersion: 2022, sourceType: 'module', globals: {} },
    rules: strict,
  },
  {
    // ... except in the React glue, which hands the real window to the logic
    files: ['reflex_session/reflex/session_client.js', 'demo/local_time.js'],
    languageOptions: { globals: { ...globals.browser } },
  },
  {
    files: ['tests/js/**/*.js', 'tests/oidc/provider/**/*.js'],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: 'module',
      globals: { ...globals.node },
    },
    rules: { ...strict, 'no-restricted-syntax': 'off' },
  },
];
