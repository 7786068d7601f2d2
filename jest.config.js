/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/tests"],
  testMatch: ["**/*.test.ts"],
  transform: {
    // Transpile only (no type-check inside jest): about 3x faster and a sixth of the memory.
    // Types are checked by `npm run typecheck`.
    "^.+\\.ts$": ["ts-jest", { diagnostics: false }],
  },
  // Serialized Lambda archives are unpacked here by the archive tests; never collect tests from them.
  modulePathIgnorePatterns: ["<rootDir>/tests/.archives/"],
  // v8 coverage: babel/istanbul counters would be injected into serialized closures.
  coverageProvider: "v8",
  collectCoverageFrom: [
    "core/**/*.ts",
    "handlers/**/*.ts",
    "adapters/**/*.ts",
    "config/**/*.ts",
    "cli/**/*.ts",
    "local/**/*.ts",
    "components/**/*.ts",
  ],
  setupFiles: ["<rootDir>/tests/setup-env.js"],
  testTimeout: 30000,
  // One worker per core. jest's default (cores - 1) runs a 2-core machine one file at a time, and many
  // files here mostly wait (SMTP round trips, child processes, the SDK's retry delays).
  maxWorkers: "100%",
};
