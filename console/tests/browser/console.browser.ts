// The console in real Chromium against the real binary: a duty officer's day on one case, a supervisor's board
// watching a deadline escalate, and another department refused the case.

import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { Browser } from "playwright-core";
import { ReportService } from "../../src/gen/gridwhistle/v1/report_pb";
import { AssignmentState, CaseService, CaseState } from "../../src/gen/gridwhistle/v1/case_pb";
import { AssignmentRole, CoordinateSystem, RiskGrade, WhistleKind } from "../../src/gen/gridwhistle/v1/common_pb";
import { AuthService } from "../../src/gen/gridwhistle/v1/auth_pb";
import { AdminService } from "../../src/gen/gridwhistle/v1/admin_pb";
import { LedgerLevel, LedgerNature, LedgerService } from "../../src/gen/gridwhistle/v1/ledger_pb";
import { consoleAs, launch, pageErrors, pointInGrid, shoot, signedIn, startServer, uuid7, type Server } from "./harness";

const GRID = "g-jianwai-1-01";
const WORKER = `worker.${GRID}`;
const PHONE = { width: 390, height: 844 };

/** The shipped time limits with reporting in due one wall minute after a whistle, escalating to the supervisors at once. */
function shortReportIn(): unknown {
  const shipped = JSON.parse(
    readFileSync(resolve(import.meta.dirname, "../../../server/defaults/time_limits.json"), "utf8"),
  ) as { policies: { stages: { stage: string; limit: unknown; ladder: unknown }[] }[] };
  for (const policy of shipped.policies) {
    for (const stage of policy.stages) {
      if (stage.stage === "report_in") {
        stage.limit = { amount: 1, unit: "minutes" };
        stage.ladder = [{ after_minutes: 0, audience: "supervisors" }];
      }
    }
  }
  return shipped;
}

let server: Server;
let browser: Browser;

beforeAll(async () => {
  server = await startServer(shortReportIn());
  browser = await launch();
});

afterEach(() => {
  const seen = pageErrors.splice(0);
  expect(seen, seen.join("\n")).toEqual([]);
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

/** Files and whistles a report as the grid worker on `on` (the suite's server unless named), through the API as the phone does; answers the case and report. */
async function whistle(description: string, on: Server = server) {
  const api = await signedIn(on.url, WORKER);
  const reports = api(ReportService);
  const point = pointInGrid(GRID);
  const created = await reports.createReport({
    reportId: uuid7(),
    report: {
      category: "categories/neighbour-dispute",
      description,
      location: { ...point, coordinateSystem: CoordinateSystem.WGS84, accuracyMeters: 8 },
      observeTime: timestampFromDate(new Date(Date.now() - 60_000)),
      parties: [{ name: "张三丰", phone: "13800138000", relation: "住户" }],
    },
  });
  const report = created.report;
  if (!report) throw new Error("no report");
  const whistled = await reports.whistle({
    name: report.name,
    kind: WhistleKind.ROUTINE,
    riskGrade: RiskGrade.B,
    note: "需要协调",
    etag: report.etag,
    requestId: uuid7(),
  });
  if (!whistled.case) throw new Error("no case");
  return { caseName: whistled.case.name, reportName: report.name, lead: whistled.case.assignments[0]?.department ?? "" };
}

describe("the duty console", () => {
  it("shows a whistle live, and the officer reports in, posts progress and completes; the acceptance shows", async () => {
    // Which department leads is the routing's answer; a first whistle tells, and its officer's console is opened.
    const first = await whistle("楼道堆放杂物，邻里争执（一）");
    const officer = `duty.${first.lead.replace("departments/", "")}`;
    const { page, context } = await consoleAs(browser, server.url, officer);
    await page.waitForSelector(`[data-case="${first.caseName.replace("cases/", "")}"]`);
    await page.waitForSelector("[data-testid=live]:has-text('实时')");

    // A second whistle arrives without a reload.
    const second = await whistle("楼道堆放杂物，邻里争执（二）");
    const id = second.caseName.replace("cases/", "");
    await page.waitForSelector(`[data-case="${id}"]`, { timeout: 15_000 });
    await page.waitForSelector("[data-testid=new-badge]");
    expect((await shoot(page, "inbox-1366")).overflowing).toEqual([]);

    // The case page: report in, post progress, complete.
    await page.click(`[data-case="${id}"] a`);
    await page.waitForSelector("[data-testid=case]");
    await page.click("[data-action=reportIn]");
    await page.waitForSelector("[data-testid=timeline] [data-kind=REPORTED_IN]");
    await page.fill("textarea[name=text]", "已到现场，正在协调");
    // A real JPEG for the photo: Chromium's own picture of the page.
    const photo = await page.screenshot({ type: "jpeg", quality: 60, clip: { x: 0, y: 0, width: 320, height: 200 } });
    await page.setInputFiles("input[name=photos]", { name: "现场.jpg", mimeType: "image/jpeg", buffer: photo });
    await page.click("[data-action=postProgress]");
    await page.waitForSelector("[data-testid=timeline] [data-kind=PROGRESS]");
    // The photo went up chunk by chunk and comes back down through the API, decoded.
    await page.waitForFunction(() => {
      const img = document.querySelector<HTMLImageElement>("[data-testid=timeline] [data-kind=PROGRESS] img");
      return img !== null && img.complete && img.naturalWidth === 320;
    });
    await page.fill("textarea[name=text]", "杂物已清理，双方和解");
    await page.click("[data-action=complete]");
    await page.waitForSelector("[data-testid=timeline] [data-kind=COMPLETED]");
    expect((await shoot(page, "case-1366")).overflowing).toEqual([]);

    // The grid worker accepts through the API; the open case page shows it.
    const api = await signedIn(server.url, WORKER);
    const reports = api(ReportService);
    const report = (await reports.getReport({ name: second.reportName })).report;
    await reports.verifyResolution({
      name: second.reportName,
      accepted: true,
      satisfaction: 5,
      etag: report?.etag ?? "",
      requestId: uuid7(),
    });
    await page.waitForSelector("[data-testid=timeline] [data-kind=VERIFIED]", { timeout: 15_000 });
    expect(await page.textContent("[data-testid=case-state]")).toBe("已办结");

    // On a phone.
    await page.setViewportSize(PHONE);
    expect((await shoot(page, "case-390")).overflowing).toEqual([]);
    await page.click(".brand");
    await page.waitForSelector("[data-testid=inbox]");
    expect((await shoot(page, "inbox-390")).overflowing).toEqual([]);
    await context.close();
  });

  it("answers another department's officer as if the case did not exist", async () => {
    const mine = await whistle("占道经营");
    const other = mine.lead === "departments/police-01" ? "duty.housing" : "duty.police-01";
    // The address typed in a new tab: sign in, then the case's page.
    const { page, context } = await consoleAs(browser, server.url, other, undefined, `/console/${mine.caseName}`);
    await page.waitForSelector("[data-testid=case-missing]");
    // The same answer as a case that does not exist at all.
    const api = await signedIn(server.url, other);
    const refused = await api(CaseService).getCase({ name: mine.caseName }).catch((e: unknown) => e);
    const missing = await api(CaseService).getCase({ name: `cases/${uuid7()}` }).catch((e: unknown) => e);
    expect(String(refused)).toBe(String(missing).replace(/cases\/[0-9a-f-]+/, mine.caseName));
    await context.close();
  });
});

describe("the supervisor's board", () => {
  it("shows a deadline escalating live; a letter reaches the department, an extension is approved, and the ranking downloads as Excel", async () => {
    const { page, context } = await consoleAs(browser, server.url, "supervisor");
    await page.waitForSelector("[data-testid=board]");
    await page.waitForSelector("[data-testid=live]:has-text('实时')");
    const late = await whistle("噪音扰民，无人报到");
    // Due one minute after the whistle; the ladder's first rung goes to the supervisors at once.
    const link = `[data-testid=escalations] a:has-text("${late.caseName.slice(-8)}")`;
    await page.waitForSelector(link, { timeout: 150_000 });
    expect((await shoot(page, "board-1366")).overflowing).toEqual([]);
    await page.setViewportSize(PHONE);
    expect((await shoot(page, "board-390")).overflowing).toEqual([]);
    await page.setViewportSize({ width: 1366, height: 768 });

    // A letter to the lead department about the late case.
    await page.click(link);
    await page.waitForSelector("[data-testid=issue-letter]");
    await page.selectOption("select[name=department]", late.lead);
    await page.fill("textarea[name=letter]", "请立即报到并反馈处置情况");
    await page.click("[data-action=issueLetter]");
    await page.waitForSelector("[data-testid=timeline] [data-kind=SUPERVISION_LETTER]");
    // On the map, the late case is ringed as overdue.
    await page.click("[data-testid=nav-map]");
    await page.waitForSelector("[data-testid=case-map] .leaflet-interactive.overdue");

    // The department's console shows it, and the officer answers it.
    const officer = await consoleAs(browser, server.url, `duty.${late.lead.replace("departments/", "")}`);
    await officer.page.waitForSelector("[data-testid=department-letters] :text('请立即报到并反馈处置情况')");
    expect((await shoot(officer.page, "letters-1366")).overflowing).toEqual([]);
    await officer.page.fill("textarea[name=reply]", "已安排人员前往");
    await officer.page.click("[data-action=acknowledge]");
    await officer.page.waitForSelector("[data-testid=department-letters]", { state: "detached" });

    // The officer reports in late and asks for three more days to finish; the supervisor approves.
    await officer.page.click(`[data-case="${late.caseName.slice("cases/".length)}"] a`);
    await officer.page.click("[data-action=reportIn]");
    await officer.page.waitForSelector("[data-testid=timeline] [data-kind=REPORTED_IN]");
    await officer.page.fill("textarea[name=text]", "需协调产权单位，申请延期");
    await officer.page.click("[data-action=requestExtension]");
    await officer.page.waitForSelector("[data-testid=timeline] [data-kind=EXTENSION_REQUESTED]");
    await page.click(".top nav a >> nth=0");
    await page.waitForSelector("[data-testid=extensions] [data-action=approve]");
    await page.fill("[data-testid=extensions] input[name=decision-reason]", "同意延期三天");
    await page.click("[data-testid=extensions] [data-action=approve]");
    await page.waitForSelector("[data-testid=extensions] [data-action=approve]", { state: "detached" });
    await officer.page.waitForSelector("[data-testid=timeline] [data-kind=EXTENSION_DECIDED]:has-text('同意延期三天')", {
      timeout: 15_000,
    });

    // The department's own figures: the late report-in is among its shortfalls.
    await officer.page.click("[data-testid=nav-figures]");
    await officer.page.waitForSelector(`[data-testid=shortfalls] a[href="/console/${late.caseName}"]`);
    expect((await shoot(officer.page, "figures-1366")).overflowing).toEqual([]);
    await officer.page.setViewportSize(PHONE);
    expect((await shoot(officer.page, "figures-390")).overflowing).toEqual([]);
    await officer.context.close();

    // The month's ranking, downloaded as an Excel workbook.
    await page.click("[data-testid=nav-ranking]");
    await page.waitForSelector("[data-testid=ranking] tbody tr");
    const [download] = await Promise.all([page.waitForEvent("download"), page.click("[data-action=exportXlsx]")]);
    expect(download.suggestedFilename()).toMatch(/\.xlsx$/);
    const saved = await download.path();
    const bytes = (await import("node:fs")).readFileSync(saved);
    // An Office Open XML workbook is a ZIP archive.
    expect(bytes.subarray(0, 2).toString("latin1")).toBe("PK");
    expect((await shoot(page, "ranking-1366")).overflowing).toEqual([]);
    await page.setViewportSize(PHONE);
    expect((await shoot(page, "ranking-390")).overflowing).toEqual([]);
    await context.close();
  });
});

describe("the supervisor steers cases and keeps the ledger", () => {
  it("reassigns and regrades a case, sees returned cases and open cases on the map, ranks streets, and follows a ledger entry's plan", async () => {
    const steered = await whistle("井盖缺失，需改派");
    const { page, context } = await consoleAs(browser, server.url, "supervisor", undefined, `/console/${steered.caseName}`);
    await page.waitForSelector("[data-testid=steer]");
    // Reassigned by hand to the housing department, with the urban management office assisting, chosen from the directory.
    await page.selectOption("select[name=lead]", "departments/housing");
    await page.selectOption("select[name=assists]", ["departments/urban-01"]);
    await page.fill("textarea[name=steer-reason]", "属物业管理范围");
    await page.click("[data-action=reassign]");
    await page.waitForSelector("[data-testid=timeline] [data-kind=REASSIGNED]:has-text('属物业管理范围')");
    await page.selectOption("select[name=grade]", String(RiskGrade.A));
    await page.fill("textarea[name=steer-reason]", "涉及安全隐患");
    await page.click("[data-action=regrade]");
    await page.waitForSelector("[data-testid=timeline] [data-kind=REGRADED]");
    expect((await shoot(page, "steer-1366")).overflowing).toEqual([]);
    // The new lead's officer has it in the inbox.
    const housing = await consoleAs(browser, server.url, "duty.housing");
    await housing.page.waitForSelector(`[data-case="${steered.caseName.slice("cases/".length)}"]`);
    await housing.context.close();

    // A case every routed department returns waits on the board for the supervisor's decision: each return summons
    // routing's next unit, until none is left.
    const returned = await whistle("不属本部门职责");
    const watcher = (await signedIn(server.url, "supervisor"))(CaseService);
    for (let round = 0; round < 10; round++) {
      const now = (await watcher.getCase({ name: returned.caseName })).case;
      if (!now || now.state === CaseState.AWAITING_SUPERVISOR) break;
      const lead = now.assignments.find((a) => a.role === AssignmentRole.LEAD && a.state !== AssignmentState.RETURNED);
      if (!lead) break;
      const officer = (await signedIn(server.url, `duty.${lead.department.replace("departments/", "")}`))(CaseService);
      await officer.returnCase({ name: returned.caseName, reason: "非本单位职责", etag: now.etag, requestId: uuid7() });
    }
    await page.click(".top nav a >> nth=0");
    await page.waitForSelector(`[data-testid=awaiting] a:has-text("${returned.caseName.slice(-8)}")`, { timeout: 15_000 });

    // The map of open cases over the district's grids.
    await page.click("[data-testid=nav-map]");
    await page.waitForSelector("[data-testid=case-map] .leaflet-interactive.grade-a");
    expect((await shoot(page, "map-1366")).overflowing).toEqual([]);
    // Over the housing department's jurisdictions instead of the grids: the reassigned case is still drawn.
    const grids = await page.locator("[data-testid=case-map] path.leaflet-interactive").count();
    await page.click("[data-tab=jurisdictions]");
    await page.selectOption("select[name=department]", "departments/housing");
    await page.waitForFunction(
      (before) => document.querySelectorAll("[data-testid=case-map] path.leaflet-interactive").length < before,
      grids,
    );
    await page.waitForSelector("[data-testid=case-map] .leaflet-interactive.grade-a");
    // A jurisdiction names its department on hover.
    await page.hover("[data-testid=case-map] path.leaflet-interactive >> nth=0", { force: true });
    await page.waitForSelector(".leaflet-tooltip:has-text('区住建委')");
    expect((await shoot(page, "map-jurisdictions-1366")).overflowing).toEqual([]);

    // The month's ranking of streets: the demo's reports were filed in 建外街道.
    await page.click("[data-testid=nav-ranking]");
    await page.click("[data-tab=streets]");
    await page.waitForSelector("[data-testid=streets] td:has-text('建外街道')");

    // A ledger entry owned by the deputy district head, with two steps of the police station's.
    const deputy = await signedIn(server.url, "leader.deputy");
    const leader = (await deputy(AuthService).whoAmI({})).caller?.user ?? "";
    const supervisor = await signedIn(server.url, "supervisor");
    const due = (days: number) => timestampFromDate(new Date(Date.now() + days * 86_400_000));
    const opened = await supervisor(LedgerService).openLedgerEntry({
      entryId: uuid7(),
      title: "某小区拆迁补偿纠纷",
      summary: "十二户居民对补偿标准有异议，多次到区信访",
      nature: LedgerNature.LAND_AND_DEMOLITION,
      sinceTime: timestampFromDate(new Date(Date.now() - 400 * 86_400_000)),
      complexity: LedgerLevel.HIGH,
      socialImpact: LedgerLevel.HIGH,
      grade: RiskGrade.A,
      responsibleUnit: "departments/police-01",
      responsiblePerson: "派出所所长",
      leader,
      steps: [
        { department: "departments/police-01", description: "逐户走访，摸清诉求", dueTime: due(7) },
        { department: "departments/justice-01", description: "组织人民调解", dueTime: due(20) },
      ],
    });
    const entry = opened.entry?.name ?? "";
    await page.click("[data-testid=nav-ledger]");
    await page.click("[data-tab=RED]");
    await page.waitForSelector(`[data-entry="${entry.slice("ledgerEntries/".length)}"]`);
    await page.selectOption("select[name=leader]", leader);
    await page.waitForSelector(`[data-entry="${entry.slice("ledgerEntries/".length)}"]:has-text('副区长')`);
    expect((await shoot(page, "ledger-1366")).overflowing).toEqual([]);
    await page.click(`[data-entry="${entry.slice("ledgerEntries/".length)}"] a`);
    await page.waitForSelector("[data-testid=steps] [data-step='2']:has-text('组织人民调解')");
    expect(await page.textContent("[data-testid=entry-leader]")).toBe("副区长");

    // The responsible unit's officer completes the first step from the console; the supervisor's page shows it.
    const police = await consoleAs(browser, server.url, "duty.police-01", undefined, `/console/${entry}`);
    await police.page.fill("[data-step='1'] textarea[name=step-result]", "已走访十二户");
    await police.page.click("[data-step='1'] [data-action=completeStep]");
    await police.page.waitForSelector("[data-step='1'][data-state=DONE]");
    await police.context.close();
    await page.reload();
    await page.fill("input[name=username]", "supervisor");
    await page.fill("input[name=password]", "gridwhistle-demo");
    await page.click("button[type=submit]");
    await page.waitForSelector("[data-step='1'][data-state=DONE]:has-text('已走访十二户')");
    expect((await shoot(page, "ledger-entry-1366")).overflowing).toEqual([]);
    await page.setViewportSize(PHONE);
    expect((await shoot(page, "ledger-entry-390")).overflowing).toEqual([]);
    await context.close();

    // The district leader's console opens on the entries they own.
    const own = await consoleAs(browser, server.url, "leader.deputy");
    await own.page.waitForSelector(`[data-entry="${entry.slice("ledgerEntries/".length)}"]`);
    await own.context.close();
  });
});

describe("the admin's imports", () => {
  it("checks a file before storing it, shows each refused feature and category, and imports a good file as a new generation", async () => {
    const demo = (file: string) => readFileSync(resolve(import.meta.dirname, `../../../server/demo/${file}`), "utf8");
    const { page, context } = await consoleAs(browser, server.url, "admin");
    const choose = (name: string, text: string) =>
      page.setInputFiles("input[name=import-file]", { name, mimeType: "application/json", buffer: Buffer.from(text) });
    await page.waitForSelector("[data-testid=current-generation]:has-text('版本')");
    const before = await page.textContent("[data-testid=current-generation]");

    // Jurisdictions with an unclosed ring (feature 3) and an unknown department (feature 6): refused, each named.
    const good = demo("jurisdictions.geojson");
    const bad = JSON.parse(good) as { features: { properties: Record<string, unknown>; geometry: { type: string; coordinates: unknown[] } }[] };
    const broken = bad.features[2];
    const unknown = bad.features[5];
    if (!broken || !unknown) throw new Error("the demo has fewer jurisdictions than the test breaks");
    const ring = (broken.geometry.type === "Polygon" ? broken.geometry.coordinates[0] : (broken.geometry.coordinates[0] as unknown[])[0]) as unknown[];
    ring.pop();
    unknown.properties.department_id = "no-such-department";
    await page.selectOption("select[name=kind]", "jurisdictions");
    await choose("辖区.geojson", JSON.stringify(bad));
    await page.waitForSelector("[data-testid=check-failed] tr[data-item='2']");
    await page.waitForSelector("[data-testid=check-failed] tr[data-item='5']:has-text('no-such-department')");
    expect(await page.isDisabled("[data-action=import]")).toBe(true);
    expect((await shoot(page, "imports-1366")).overflowing).toEqual([]);
    await page.setViewportSize(PHONE);
    expect((await shoot(page, "imports-390")).overflowing).toEqual([]);
    await page.setViewportSize({ width: 1366, height: 768 });

    // The good file passes and becomes the generation in force.
    await choose("辖区.geojson", good);
    await page.waitForSelector("[data-testid=check-passed]");
    await page.click("[data-action=import]");
    await page.waitForSelector("[data-testid=imported]");
    // The new generation is the one in force.
    await page.waitForFunction((was) => document.querySelector("[data-testid=current-generation]")?.textContent !== was, before);
    await page.waitForSelector("[data-testid=in-force] tr:nth-child(3) td:has-text('在用')");

    // A catalogue with a category led by a department type that does not exist: refused by index, nothing stored.
    const catalogue = JSON.parse(demo("catalogue.json")) as { categories: Record<string, unknown>[] };
    const wrong = structuredClone(catalogue);
    const category = wrong.categories[1];
    if (!category) throw new Error("the demo catalogue is too short");
    category.lead = "不是类型";
    await page.selectOption("select[name=kind]", "catalogue");
    await choose("catalogue.json", JSON.stringify(wrong));
    await page.waitForSelector("[data-testid=check-failed] tr[data-item='1']:has-text('lead_department_type')");
    await choose("catalogue.json", JSON.stringify(catalogue));
    await page.waitForSelector("[data-testid=check-passed]");
    await page.click("[data-action=import]");
    await page.waitForSelector("[data-testid=imported]");
    await context.close();
  });
});

describe("the session and the live stream", () => {
  it("refreshes the access token before it expires, resumes the inbox stream after the network drops, and signs out when a refresh is refused", async () => {
    // Access tokens of eight seconds: the console refreshes each five seconds after it was issued.
    const short = await startServer(undefined, ["--access-token-ttl-secs", "8"]);
    try {
      const officer = "duty.street-jianwai";
      const { page, context } = await consoleAs(browser, short.url, officer);
      const refreshes: string[] = [];
      page.on("requestfinished", (request) => {
        if (request.url().endsWith("/gridwhistle.v1.AuthService/RefreshToken")) refreshes.push(request.url());
      });
      await page.waitForSelector("[data-testid=live]:has-text('实时')");
      await expect.poll(() => refreshes.length, { timeout: 20_000, interval: 250 }).toBeGreaterThanOrEqual(2);
      // Past the first token's life, the console still reads with the refreshed one.
      await page.click("[data-testid=nav-ranking]");
      await page.waitForSelector("[data-testid=ranking] tbody tr");
      await page.click(".top nav a >> nth=0");
      await page.waitForSelector("[data-testid=live]:has-text('实时')");

      // The connection drops (the server is killed and comes back) and the console's first tries to reconnect are held
      // back, while a whistle is made. Twice: first before the stream gave the console any cursor (the inbox is read
      // again once the stream is back), then with one (the stream resumes from it).
      const whistleToJianwai = async (description: string) =>
        (await whistle(description, short)).caseName.replace("cases/", "");
      for (const round of ["没有游标", "有游标"]) {
        await page.route("**/gridwhistle.v1.CaseService/WatchInbox", (route) => route.abort());
        await short.restart();
        await page.waitForSelector("[data-testid=live]:has-text('正在重连')", { timeout: 20_000 });
        const id = await whistleToJianwai(`断线期间上报（${round}）`);
        await page.unroute("**/gridwhistle.v1.CaseService/WatchInbox");
        await page.waitForSelector(`[data-case="${id}"]`, { timeout: 30_000 });
        await page.waitForSelector("[data-testid=live]:has-text('实时')");
        // A whistle while connected gives the console a cursor for the second round.
        const live = await whistleToJianwai(`在线上报（${round}）`);
        await page.waitForSelector(`[data-case="${live}"]`, { timeout: 15_000 });
      }

      // The admin disables the officer: the next refresh is refused and the console signs out.
      const officerId = (await (await signedIn(short.url, officer))(AuthService).whoAmI({})).caller?.user ?? "";
      const administrator = await signedIn(short.url, "admin");
      await administrator(AdminService).updateUser({
        user: { name: officerId, disabled: true },
        updateMask: { paths: ["disabled"] },
      });
      await page.waitForSelector("input[name=username]", { timeout: 20_000 });
      // Chromium logs each request the dropped connection and the held-back retries failed; those are this test's
      // doing, anything else fails it.
      const dropped = /Failed to load resource: net::ERR_(FAILED|CONNECTION_REFUSED|CONNECTION_RESET|EMPTY_RESPONSE|INCOMPLETE_CHUNKED_ENCODING)/;
      const rest = pageErrors.splice(0).filter((e) => !dropped.test(e));
      pageErrors.push(...rest);
      await context.close();
    } finally {
      await short.stop();
    }
  });
});

describe("the console's weight and speed (printed, not asserted)", () => {
  it("measures the JavaScript of the first page and the time to an inbox of 200 cases", async () => {
    const first = await whistle("测量用案件");
    const lead = first.lead.replace("departments/", "");
    for (let i = 0; i < 200; i += 10) {
      await Promise.all(Array.from({ length: 10 }, (_, j) => whistle(`测量用案件 ${i + j}`)));
    }
    const context = await browser.newContext({ viewport: { width: 1366, height: 768 }, locale: "zh-CN" });
    const page = await context.newPage();
    const scripts: Promise<number>[] = [];
    page.on("requestfinished", (request) => {
      if (request.resourceType() === "script") scripts.push(request.sizes().then((s) => s.responseBodySize));
    });
    const started = performance.now();
    await page.goto(`${server.url}/console/`);
    await page.waitForSelector("input[name=username]");
    const formReady = performance.now() - started;
    await page.fill("input[name=username]", `duty.${lead}`);
    await page.fill("input[name=password]", "gridwhistle-demo");
    const signIn = performance.now();
    await page.click("button[type=submit]");
    await page.waitForSelector("[data-testid=who]");
    const signedInAfter = performance.now() - signIn;
    await page.waitForFunction(() => document.querySelectorAll("[data-testid=inbox] li").length >= 200, undefined, {
      timeout: 60_000,
    });
    const inboxReady = performance.now() - signIn;
    const bytes = (await Promise.all(scripts)).reduce((a, b) => a + b, 0);
    console.log(
      `console figures: JavaScript sent for the first page ${(bytes / 1024).toFixed(1)} KiB (gzipped, as sent); ` +
        `navigation to the sign-in form ${formReady.toFixed(0)} ms; ` +
        `sign-in to an inbox of 200 cases rendered ${inboxReady.toFixed(0)} ms (signed in after ${signedInAfter.toFixed(0)} ms)`,
    );
    expect(bytes).toBeGreaterThan(0);
    await context.close();
  });
});
