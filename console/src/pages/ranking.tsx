import { useEffect, useState } from "preact/hooks";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { describe, supervision } from "../api";
import { t, type Key } from "../i18n";
import { Tabs } from "../links";
import { districtMonth, percent } from "../format";
import {
  AreaLevel,
  ExportFormat,
  type AreaStats,
  type DepartmentStats,
  ExportStatsRequestSchema,
  type Ratio,
} from "../gen/gridwhistle/v1/stats_pb";

type Level = "departments" | "streets";

const AREA_ORDERS: [string, Key][] = [
  ["report_count desc", "reports"],
  ["whistle_rate desc", "whistleRate"],
  ["on_site_rate desc", "onSiteRate"],
  ["first_time_rate desc", "firstTimeRate"],
  ["growth desc", "growth"],
];

const ORDERS: [string, Key][] = [
  ["response_rate desc", "responseRate"],
  ["resolution_rate desc", "resolutionRate"],
  ["satisfaction_rate desc", "satisfactionRate"],
  ["on_time_closure_rate desc", "onTimeClosureRate"],
  ["return_rate desc", "returnRate"],
  ["overdue_count desc", "overdueNow"],
];

/** The rate with the counts behind it: "87.5% (7/8)". */
function rate(r: Ratio | undefined): string {
  return r && r.denominator !== 0n ? `${percent(r)} (${r.numerator}/${r.denominator})` : percent(r);
}

/** The month's ranking of every department, or of every street, ordered by the figure chosen, with its Excel and CSV exports. */
export function Ranking() {
  const [month, setMonth] = useState(districtMonth(new Date()));
  const [level, setLevel] = useState<Level>("departments");
  const [orderBy, setOrderBy] = useState("response_rate desc");
  const [rows, setRows] = useState<DepartmentStats[] | null>(null);
  const [areas, setAreas] = useState<AreaStats[] | null>(null);
  const [error, setError] = useState("");
  // The request behind the table is the one its export sends.
  const period = { period: { case: "month" as const, value: month } };
  const view: MessageInitShape<typeof ExportStatsRequestSchema>["view"] =
    level === "departments"
      ? { case: "ranking", value: { period, orderBy } }
      : { case: "areas", value: { period, level: AreaLevel.STREET, orderBy } };
  useEffect(() => {
    setError("");
    const failed = (err: unknown) => setError(describe(err));
    if (view.case === "ranking") {
      supervision.listDepartmentStats(view.value).then((answer) => setRows(answer.stats), failed);
    } else if (view.case === "areas") {
      supervision.listAreaStats(view.value).then((answer) => setAreas(answer.stats), failed);
    }
  }, [month, orderBy, level]);
  const switchTo = (next: Level) => {
    setLevel(next);
    setOrderBy(next === "departments" ? "response_rate desc" : "report_count desc");
  };
  const download = async (format: ExportFormat) => {
    setError("");
    try {
      const parts: Uint8Array[] = [];
      let type = "application/octet-stream";
      let filename = "ranking";
      for await (const chunk of supervision.exportStats({ view, format })) {
        if (chunk.contentType) type = chunk.contentType;
        if (chunk.filename) filename = chunk.filename;
        parts.push(chunk.data);
      }
      const url = URL.createObjectURL(new Blob(parts as BlobPart[], { type }));
      const link = document.createElement("a");
      link.href = url;
      link.download = filename;
      link.click();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (err) {
      setError(describe(err));
    }
  };
  const orders = level === "departments" ? ORDERS : AREA_ORDERS;
  return (
    <section class="ranking" data-testid="ranking">
      <div class="bar">
        <h2>{t("ranking")}</h2>
        <Tabs
          tabs={(["departments", "streets"] as const).map((l) => ({ value: l, label: t(l), id: l }))}
          value={level}
          onChange={switchTo}
        />
        <label>
          {t("month")}{" "}
          <input name="month" type="month" value={month} onChange={(e) => e.currentTarget.value && setMonth(e.currentTarget.value)} />
        </label>
        <label>
          {t("orderBy")}{" "}
          <select name="order" value={orderBy} onChange={(e) => setOrderBy(e.currentTarget.value)}>
            {orders.map(([value, label]) => (
              <option key={value} value={value}>
                {t(label)}
              </option>
            ))}
          </select>
        </label>
        <button type="button" data-action="exportXlsx" onClick={() => void download(ExportFormat.XLSX)}>
          {t("exportXlsx")}
        </button>
        <button type="button" data-action="exportCsv" onClick={() => void download(ExportFormat.CSV)}>
          {t("exportCsv")}
        </button>
      </div>
      {error && <p class="error" role="alert">{error}</p>}
      {level === "departments" ? <DepartmentTable rows={rows} /> : <StreetTable rows={areas} />}
    </section>
  );
}

function DepartmentTable({ rows }: { rows: DepartmentStats[] | null }) {
  if (rows === null) return <p>{t("loading")}</p>;
  return (
    <div class="scroll">
      <table class="figures">
        <thead>
          <tr>
            <th>{t("rank")}</th>
            <th>{t("department")}</th>
            <th>{t("assignments")}</th>
            <th>{t("responseRate")}</th>
            <th>{t("resolutionRate")}</th>
            <th>{t("satisfactionRate")}</th>
            <th>{t("onTimeClosureRate")}</th>
            <th>{t("reworkRate")}</th>
            <th>{t("returnRate")}</th>
            <th>{t("openNow")}</th>
            <th>{t("overdueNow")}</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.department}>
              <td>{r.rank}</td>
              <td>{r.displayName}</td>
              <td>{String(r.assignmentCount)}</td>
              <td>{rate(r.responseRate)}</td>
              <td>{rate(r.resolutionRate)}</td>
              <td>{rate(r.satisfactionRate)}</td>
              <td>{rate(r.onTimeClosureRate)}</td>
              <td>{rate(r.reworkRate)}</td>
              <td>{rate(r.returnRate)}</td>
              <td>{String(r.openCount)}</td>
              <td>{String(r.overdueCount)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** Streets (街道) by the reports filed in their grids: how many, how many whistled or settled on the spot, and the growth. */
function StreetTable({ rows }: { rows: AreaStats[] | null }) {
  if (rows === null) return <p>{t("loading")}</p>;
  return (
    <div class="scroll">
      <table class="figures" data-testid="streets">
        <thead>
          <tr>
            <th>{t("rank")}</th>
            <th>{t("street")}</th>
            <th>{t("reports")}</th>
            <th>{t("whistleRate")}</th>
            <th>{t("onSiteRate")}</th>
            <th>{t("firstTimeRate")}</th>
            <th>{t("growth")}</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.area}>
              <td>{r.rank}</td>
              <td>{r.area.replace(/^streets\//, "")}</td>
              <td>{String(r.reportCount)}</td>
              <td>{rate(r.whistleRate)}</td>
              <td>{rate(r.onSiteRate)}</td>
              <td>{rate(r.firstTimeRate)}</td>
              <td>
                {(r.growth * 100).toFixed(1)}% ({String(r.previousReportCount)} → {String(r.reportCount)})
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
