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
  // Two workers more than cores. jest's default (cores - 1) runs a 2-core machine one file at a time, and
  // many files here partly wait (SMTP round trips, child processes that have the CPU, real timers). On
  // this 2-core machine, back to back: 2 workers 124 s, 3 workers 105-145 s, 4 workers 99-129 s (the
  // machine's own speed varies by a fifth from one run to the next).
  maxWorkers: require("node:os").availableParallelism() + 2,
  // How long a worker may take to end once asked. Measured at the end of full runs: every worker emits
  // 'exit' within 3 ms of being asked, with no handle open but its three stdio pipes, and the process
  // is gone 0.25-0.57 s later, while Node frees a heap of 0.3-0.5 GB: mostly garbage of earlier test
  // files that V8 had not needed to collect (with a full collection after each file, one worker's heap
  // stays near 110 MB). jest's default of 0.5 s killed the slowest with a warning about leaked handles
  // there were not.
  workerGracefulExitTimeout: 2000,
};
