// Two projects: the CDK app (test/, tools/, bench/test/) and the service (app/), so `npm test` runs every test.
/** @type {import('jest').Config} */
module.exports = {
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
