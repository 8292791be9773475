// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * A package only `folder` may import, subpaths included. .dependency-cruiser.cjs states the
 * same rule with the layers (`npm run lint`); this one shows up in the editor as you type.
 */
const onlyAdapter = (name, folder) => ({
  group: [name, `${name}/*`],
  message: `Only ${folder} may import ${name}: go through its interface instead.`,
});

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      'coverage/**',
      'data/**',
      '.bench-tmp/**',
      'eslint.config.js',
      '.dependency-cruiser.cjs',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/explicit-module-boundary-types': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      'no-restricted-syntax': [
        'error',
        { selector: 'TSEnumDeclaration', message: 'No enums: use a union of string literals.' },
        { selector: 'ExportDefaultDeclaration', message: 'Named exports only.' },
      ],
      'no-console': 'error',
    },
  },
  {
    // Build scripts run as plain Node modules, outside the TypeScript project.
    files: ['scripts/**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    files: ['src/**/*.ts'],
    ignores: ['src/engine/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            onlyAdapter('dockerode', 'src/engine/'),
            onlyAdapter('simple-git', 'src/source/'),
          ],
        },
      ],
    },
  },
  {
    files: ['src/engine/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [onlyAdapter('simple-git', 'src/source/')] }],
    },
  },
  {
    files: ['src/source/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [onlyAdapter('dockerode', 'src/engine/')] }],
    },
  },
  {
    // Tool config files must default-export by their tools' convention.
    files: ['*.config.ts'],
    rules: { 'no-restricted-syntax': 'off' },
  },
  {
    // The CLI's output layer, tests and benchmarks print on purpose.
    files: ['src/cli/output.ts', 'test/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.ts'],
    rules: { 'no-console': 'off' },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/explicit-module-boundary-types': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
    },
  },
);
