import { describe, expect, it } from "vitest";
import { crc32c, sha256Hex } from "./upload";

describe("crc32c", () => {
  it("gives the standard check value", () => {
    expect(crc32c(new TextEncoder().encode("123456789"))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array())).toBe(0);
  });
});

describe("sha256Hex", () => {
  it("hashes as the server does", async () => {
    expect(await sha256Hex(new TextEncoder().encode("abc"))).toBe(
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
  });
});
