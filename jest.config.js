// Two projects: the CDK app (test/, tools/, bench/test/) and the service (app/), so `npm test` runs every test.
const os = require('node:os');

/** @type {import('jest').Config} */
module.exports = {
  // At least two workers: jest's default (one less than the cores) runs every file one after another on a 2-core
  // machine, while many files spend most of their time waiting on the processes they start (the service, cdk synth).
  maxWorkers: Math.max(2, os.availableParallelism() - 1),
  projects: [
    {
      displayName: 'cdk',
      testEnvironment: 'node',
      roots: ['<rootDir>/test', '<rootDir>/tools', '<rootDir>/bench/test'],
      testMatch: ['**/*.test.ts'],
      transform: { '^.+\\.ts$': '@swc/jest' },
      setupFilesAfterEnv: ['aws-cdk-lib/testhelpers/jest-autoclean'],
      // The real OpenTelemetry Collector, built once with Go and cached (tools/collector/build.ts).
      globalSetup: '<rootDir>/tools/collector/jest-global-setup.ts',
    },
    '<rootDir>/app',
  ],
};
