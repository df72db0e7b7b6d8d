import { defineConfig } from "vite";

// The bundle is committed (console/dist) and embedded into the server at build time; CI rebuilds it from the
// lockfile and fails on any difference, so the output must depend on the sources alone.
export default defineConfig({
  base: "/console/",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    sourcemap: false,
    reportCompressedSize: true,
    chunkSizeWarningLimit: 600,
  },
  server: {
    proxy: {
      "/gridwhistle.v1.": { target: "http://127.0.0.1:50051", changeOrigin: false },
    },
  },
});
