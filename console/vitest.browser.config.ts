import { defineConfig } from "vitest/config";

// The browser tests: the real binary (`gridwhistle serve --demo` on a fresh database) driven in Debian's headless
// Chromium through playwright-core. One file, run in order.
export default defineConfig({
  test: {
    include: ["tests/browser/**/*.browser.ts"],
    testTimeout: 300_000,
    hookTimeout: 120_000,
    fileParallelism: false,
    sequence: { concurrent: false },
  },
});
