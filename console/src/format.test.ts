import { describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { countdown, districtMonth, nearestDue, span } from "./format";
import { CaseSchema, DeadlineState, DeadlineStage } from "./gen/gridwhistle/v1/case_pb";

describe("span", () => {
  it("writes the units that matter", () => {
    expect(span(4 * 60_000 + 9_000)).toBe("4m 09s");
    expect(span(3 * 3_600_000 + 5 * 60_000)).toBe("3h 05m");
    expect(span(2 * 86_400_000 + 3 * 3_600_000 + 59_000)).toBe("2d 3h");
    expect(span(-90_000)).toBe("1m 30s");
  });
});

describe("countdown", () => {
  it("marks a passed due time overdue", () => {
    const now = new Date("2026-12-01T09:00:00+08:00");
    expect(countdown(new Date("2026-12-01T08:59:00+08:00"), now)).toEqual({ overdue: true, text: "1m 00s" });
    expect(countdown(new Date("2026-12-01T10:00:00+08:00"), now)).toEqual({ overdue: false, text: "1h 00m" });
  });
});

describe("nearestDue", () => {
  it("takes the earliest deadline still owed by the department asked", () => {
    const at = (iso: string) => timestampFromDate(new Date(iso));
    const c = create(CaseSchema, {
      assignments: [
        {
          department: "departments/a",
          deadlines: [
            { stage: DeadlineStage.REPORT_IN, state: DeadlineState.SATISFIED, dueTime: at("2026-12-01T01:00:00Z") },
            { stage: DeadlineStage.FINISH, state: DeadlineState.PENDING, dueTime: at("2026-12-05T01:00:00Z") },
          ],
        },
        {
          department: "departments/b",
          deadlines: [
            { stage: DeadlineStage.REPORT_IN, state: DeadlineState.PENDING, dueTime: at("2026-12-02T01:00:00Z") },
            { stage: DeadlineStage.CONTACT, state: DeadlineState.CANCELLED, dueTime: at("2026-11-02T01:00:00Z") },
          ],
        },
      ],
    });
    expect(nearestDue(c, "departments/a")?.toISOString()).toBe("2026-12-05T01:00:00.000Z");
    expect(nearestDue(c)?.toISOString()).toBe("2026-12-02T01:00:00.000Z");
    expect(nearestDue(c, "departments/c")).toBeUndefined();
    // A breached deadline is still owed: the case shows overdue.
    const reportIn = c.assignments[1]?.deadlines[0];
    if (reportIn) reportIn.state = DeadlineState.BREACHED;
    expect(nearestDue(c, "departments/b")?.toISOString()).toBe("2026-12-02T01:00:00.000Z");
  });
});

describe("districtMonth", () => {
  it("counts months in Beijing time", () => {
    expect(districtMonth(new Date("2026-11-30T15:59:59Z"))).toBe("2026-11");
    expect(districtMonth(new Date("2026-11-30T16:00:00Z"))).toBe("2026-12");
  });
});
