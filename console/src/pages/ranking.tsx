import { useEffect, useState } from "preact/hooks";
import { describe, supervision } from "../api";
import { t, type Key } from "../i18n";
import { districtMonth, percent } from "../format";
import { ExportFormat, type DepartmentStats, type Ratio } from "../gen/gridwhistle/v1/stats_pb";

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

/** The month's ranking of every department, ordered by the figure chosen, with its Excel and CSV exports. */
export function Ranking() {
  const [month, setMonth] = useState(districtMonth(new Date()));
  const [orderBy, setOrderBy] = useState("response_rate desc");
  const [rows, setRows] = useState<DepartmentStats[] | null>(null);
  const [error, setError] = useState("");
  useEffect(() => {
    setError("");
    supervision.listDepartmentStats({ period: { period: { case: "month", value: month } }, orderBy }).then(
      (answer) => setRows(answer.stats),
      (err: unknown) => setError(describe(err)),
    );
  }, [month, orderBy]);
  const download = async (format: ExportFormat) => {
    setError("");
    try {
      const parts: Uint8Array[] = [];
      let type = "application/octet-stream";
      let filename = "ranking";
      for await (const chunk of supervision.exportStats({
        view: { case: "ranking", value: { period: { period: { case: "month", value: month } }, orderBy } },
        format,
      })) {
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
  return (
    <section class="ranking" data-testid="ranking">
      <div class="bar">
        <h2>{t("ranking")}</h2>
        <label>
          {t("month")}{" "}
          <input name="month" type="month" value={month} onChange={(e) => e.currentTarget.value && setMonth(e.currentTarget.value)} />
        </label>
        <label>
          {t("orderBy")}{" "}
          <select name="order" value={orderBy} onChange={(e) => setOrderBy(e.currentTarget.value)}>
            {ORDERS.map(([value, label]) => (
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
      {rows === null ? (
        <p>{t("loading")}</p>
      ) : (
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
      )}
    </section>
  );
}
