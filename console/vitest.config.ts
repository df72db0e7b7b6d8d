import { defineConfig } from "vitest/config";

// Unit tests only; the browser tests (tests/browser) have their own config.
export default defineConfig({
  test: { include: ["src/**/*.test.ts"] },
});
