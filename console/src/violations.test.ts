import { describe, expect, it } from "vitest";
import { Code, ConnectError } from "@connectrpc/connect";
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { itemIndex, violations } from "./violations";

function badRequest(pairs: [string, string][]): Uint8Array {
  const writer = new BinaryWriter();
  for (const [field, description] of pairs) {
    writer.tag(1, 2).fork().tag(1, 2).string(field).tag(2, 2).string(description).join();
  }
  return writer.finish();
}

describe("violations", () => {
  it("reads every field violation of a BadRequest detail, in order", () => {
    // As the client holds details it read off the wire: by type name, undecoded.
    const err = new ConnectError("invalid", Code.InvalidArgument);
    err.details.push(
      { type: "google.rpc.RequestInfo", value: new Uint8Array([10, 1, 65]) },
      {
        type: "google.rpc.BadRequest",
        value: badRequest([
          ["geojson.features[1].geometry", "polygon 0 ring 0 is not closed"],
          ["geojson.features[12].properties.grid_id", "必须填写"],
        ]),
      },
    );
    expect(violations(err)).toEqual([
      { field: "geojson.features[1].geometry", description: "polygon 0 ring 0 is not closed" },
      { field: "geojson.features[12].properties.grid_id", description: "必须填写" },
    ]);
  });

  it("answers none for other errors", () => {
    expect(violations(new Error("boom"))).toEqual([]);
    expect(violations(new ConnectError("gone", Code.NotFound))).toEqual([]);
  });

  it("finds the feature or category a field names", () => {
    expect(itemIndex("geojson.features[3].geometry")).toBe(3);
    expect(itemIndex("categories[0].name")).toBe(0);
    expect(itemIndex("geojson")).toBeUndefined();
  });
});
