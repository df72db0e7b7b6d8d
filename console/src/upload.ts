// Photos sent from the browser: gRPC-Web cannot stream a request, so each 256 KiB chunk is one UploadAttachmentChunk
// call, carrying its CRC-32C, under one upload id and the file's SHA-256; a chunk that fails is sent again from the
// size the server says is committed.

import { reports } from "./api";

const CHUNK = 256 * 1024;

const TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32C (Castagnoli) of `data`. */
export function crc32c(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) crc = (TABLE[(crc ^ byte) & 0xff] ?? 0) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

export async function sha256Hex(data: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", data as BufferSource));
  return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Uploads `file`; answers its "attachments/{sha256}" name. */
export async function upload(file: Blob): Promise<string> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  const uploadId = crypto.randomUUID();
  const sha256 = await sha256Hex(bytes);
  const totalSizeBytes = BigInt(bytes.length);
  let offset = 0;
  let retries = 0;
  for (;;) {
    const data = bytes.subarray(offset, offset + CHUNK);
    try {
      const answer = await reports.uploadAttachmentChunk({
        uploadId,
        totalSizeBytes,
        sha256,
        offset: BigInt(offset),
        data,
        crc32c: crc32c(data),
      });
      if (answer.attachment) return answer.attachment.name;
      offset = Number(answer.committedSizeBytes);
      retries = 0;
    } catch (err) {
      if (++retries > 3) throw err;
      offset = Number((await reports.queryUpload({ uploadId })).committedSizeBytes);
    }
  }
}
