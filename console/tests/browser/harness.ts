// What the browser tests stand on: the real binary on a fresh database, API clients for the callers who act through
// the API (the grid worker's phone, say), and Debian's Chromium.

import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import type { DescService } from "@bufbuild/protobuf";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { AuthService } from "../../src/gen/gridwhistle/v1/auth_pb";

const ROOT = resolve(import.meta.dirname, "../../..");

export const SHOTS = resolve(import.meta.dirname, "../../test-results");

/** A port free at the time of asking. */
async function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => done(port));
    });
  });
}

export interface Server {
  url: string;
  /** Kills the server with SIGKILL (every connection drops at once) and starts it again on the same port and database. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** `serve --demo` on a fresh SQLite database, with `timeLimits` as its time-limits file and `extra` flags. */
export async function startServer(timeLimits?: unknown, extra: string[] = []): Promise<Server> {
  const binary = process.env.GRIDWHISTLE_BIN ?? join(ROOT, "target/debug/gridwhistle");
  const dir = mkdtempSync(join(tmpdir(), "gridwhistle-console-"));
  const args = ["serve", "--demo", "--no-metrics", "--data-dir", join(dir, "data")];
  mkdirSync(join(dir, "data"));
  if (timeLimits) {
    writeFileSync(join(dir, "time_limits.json"), JSON.stringify(timeLimits));
    args.push("--time-limits", join(dir, "time_limits.json"));
  }
  args.push(...extra);
  const port = await freePort();
  args.push("--listen", `127.0.0.1:${port}`);
  // SQLite in the data directory, whatever database the environment names; one signing key across restarts.
  const env: NodeJS.ProcessEnv = { ...process.env, RUST_LOG: "warn" };
  delete env.GRIDWHISTLE_DATABASE_URL;
  env.GRIDWHISTLE_JWT_SECRET = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64");
  const url = `http://127.0.0.1:${port}`;
  const launchServer = async (): Promise<ChildProcess> => {
    const child = spawn(binary, args, { cwd: dir, env, stdio: ["ignore", "ignore", "pipe"] });
    let log = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      log += chunk.toString();
    });
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`the server exited: ${log}`);
      try {
        const answer = await fetch(`${url}/console/`);
        if (answer.ok) return child;
      } catch {
        // Not listening yet.
      }
      if (Date.now() > deadline) throw new Error(`the server did not start: ${log}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  const exited = (child: ChildProcess) =>
    child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once("exit", r));
  let child = await launchServer();
  return {
    url,
    restart: async () => {
      child.kill("SIGKILL");
      await exited(child);
      child = await launchServer();
    },
    stop: async () => {
      child.kill("SIGTERM");
      await exited(child);
    },
  };
}

/** API clients signed in as `username` (the demo password). */
export async function signedIn(url: string, username: string) {
  let token = "";
  const bearer: Interceptor = (next) => (req) => {
    if (token) req.header.set("authorization", `Bearer ${token}`);
    return next(req);
  };
  const transport = createGrpcWebTransport({ baseUrl: url, interceptors: [bearer] });
  const login = await createClient(AuthService, transport).login({ username, password: "gridwhistle-demo" });
  token = login.tokens?.accessToken ?? "";
  return <T extends DescService>(service: T): Client<T> => createClient(service, transport);
}

/** A point inside the demo grid `grid`, found on a lattice over its bounding box. */
export function pointInGrid(grid: string): { latitude: number; longitude: number } {
  const collection = JSON.parse(readFileSync(join(ROOT, "server/demo/grids.geojson"), "utf8")) as {
    features: { properties: { grid_id: string }; geometry: { type: string; coordinates: number[][][] | number[][][][] } }[];
  };
  const feature = collection.features.find((f) => f.properties.grid_id === grid);
  if (!feature) throw new Error(`no grid ${grid}`);
  const rings = (feature.geometry.type === "MultiPolygon"
    ? (feature.geometry.coordinates as number[][][][])[0]
    : (feature.geometry.coordinates as number[][][])) as number[][][];
  const outer = rings[0] ?? [];
  const xs = outer.map((p) => p[0] ?? 0);
  const ys = outer.map((p) => p[1] ?? 0);
  const [minX, maxX, minY, maxY] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  // Even-odd over every ring: inside the outline and outside its holes.
  const inside = (x: number, y: number) => rings.filter((ring) => crosses(ring, x, y)).length % 2 === 1;
  for (let i = 1; i < 20; i++) {
    for (let j = 1; j < 20; j++) {
      const x = minX + ((maxX - minX) * i) / 20;
      const y = minY + ((maxY - minY) * j) / 20;
      if (inside(x, y)) return { latitude: y, longitude: x };
    }
  }
  throw new Error(`no point found inside ${grid}`);
}

/** Whether a ray from (x, y) crosses `ring` an odd number of times. */
function crosses(ring: number[][], x: number, y: number): boolean {
  let odd = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [xi = 0, yi = 0] = ring[i] ?? [];
    const [xj = 0, yj = 0] = ring[j] ?? [];
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) odd = !odd;
  }
  return odd;
}

/** A UUIDv7, as the API's client-generated ids are. */
export function uuid7(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  const ms = BigInt(Date.now());
  for (let i = 0; i < 6; i++) bytes[i] = Number((ms >> BigInt(8 * (5 - i))) & 0xffn);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x70;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export async function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-dev-shm-usage"],
  });
}

/** Script errors and console errors seen on any page. */
export const pageErrors: string[] = [];

/** A browser context at `width`×`height`, signed in to the console as `username`. */
export async function consoleAs(
  browser: Browser,
  url: string,
  username: string,
  size = { width: 1366, height: 768 },
  address = "/console/",
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: size, locale: "zh-CN", timezoneId: "Asia/Shanghai" });
  const page = await context.newPage();
  // A script error on any page fails the test that made it.
  page.on("pageerror", (err) => pageErrors.push(`${username}: ${err.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") pageErrors.push(`${username}: ${message.text()}`);
  });
  await page.goto(`${url}${address}`);
  await page.fill("input[name=username]", username);
  await page.fill("input[name=password]", "gridwhistle-demo");
  await page.click("button[type=submit]");
  await page.waitForSelector("[data-testid=who]");
  return { context, page };
}

/** Saves a screenshot and checks that no text overflows its box (a horizontal scrollbar or clipped words). */
export async function shoot(page: Page, name: string): Promise<{ overflowing: string[] }> {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  const overflowing = await page.evaluate(() => {
    const wide = document.documentElement.scrollWidth > document.documentElement.clientWidth + 1;
    const found: string[] = wide ? ["the page scrolls sideways"] : [];
    for (const el of Array.from(document.querySelectorAll<HTMLElement>("main *, header *"))) {
      const style = getComputedStyle(el);
      // Ellipses are meant, scrolling containers (a wide table on a phone) scroll, and the map draws itself.
      if (style.textOverflow === "ellipsis" || el.closest(".leaflet-container")) continue;
      if (style.overflowX === "auto" || style.overflowX === "scroll") continue;
      if (el.scrollWidth > el.clientWidth + 1 && el.clientWidth > 0) {
        found.push(`${el.tagName.toLowerCase()}.${el.className}: ${el.textContent?.slice(0, 40) ?? ""}`);
      }
    }
    return found;
  });
  return { overflowing };
}
