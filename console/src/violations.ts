// The fields a refused call named: the google.rpc.BadRequest detail the server attaches to INVALID_ARGUMENT.
// The console's generated client covers gridwhistle.v1 only, so this one small message is read off the wire here.

import { ConnectError } from "@connectrpc/connect";
import { BinaryReader } from "@bufbuild/protobuf/wire";

export interface Violation {
  field: string;
  description: string;
}

const BAD_REQUEST = "google.rpc.BadRequest";

/** Every field violation in `err`'s details, in the server's order; none for anything else. */
export function violations(err: unknown): Violation[] {
  if (!(err instanceof ConnectError)) return [];
  const found: Violation[] = [];
  for (const detail of err.details) {
    if ("desc" in detail || detail.type !== BAD_REQUEST) continue;
    // BadRequest { repeated FieldViolation field_violations = 1; } FieldViolation { string field = 1; string description = 2; }
    const outer = new BinaryReader(detail.value);
    while (outer.pos < outer.len) {
      const [number, wireType] = outer.tag();
      if (number !== 1) {
        outer.skip(wireType);
        continue;
      }
      const inner = new BinaryReader(outer.bytes());
      const violation: Violation = { field: "", description: "" };
      while (inner.pos < inner.len) {
        const [n, w] = inner.tag();
        if (n === 1) violation.field = inner.string();
        else if (n === 2) violation.description = inner.string();
        else inner.skip(w);
      }
      found.push(violation);
    }
  }
  return found;
}

/** The feature (or category) a violation's field points at: 3 for "geojson.features[3].geometry", else undefined. */
export function itemIndex(field: string): number | undefined {
  const match = /(?:features|categories)\[(\d+)\]/.exec(field);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}
