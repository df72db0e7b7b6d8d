import { useEffect, useState } from "preact/hooks";
import { describe, idOf, supervision, type Session } from "../api";
import { t, type Key } from "../i18n";
import { PageLink } from "../links";
import { districtMonth, gradeLabel, percent, when } from "../format";
import { useNames } from "../names";
import { ShortfallKind, type DepartmentStats, type Ratio, type Shortfall } from "../gen/gridwhistle/v1/stats_pb";

const KINDS: [ShortfallKind, Key][] = [
  [ShortfallKind.LATE_REPORT_IN, "lateReportIn"],
  [ShortfallKind.REWORK, "reworkRate"],
  [ShortfallKind.RETURN, "returnRate"],
  [ShortfallKind.LATE_CLOSURE, "lateClosure"],
  [ShortfallKind.EXTENSION, "extensionRate"],
  [ShortfallKind.DISSATISFIED, "dissatisfied"],
];

const FIGURES: [keyof DepartmentStats, Key][] = [
  ["responseRate", "responseRate"],
  ["resolutionRate", "resolutionRate"],
  ["satisfactionRate", "satisfactionRate"],
  ["onTimeClosureRate", "onTimeClosureRate"],
  ["reworkRate", "reworkRate"],
  ["extensionRate", "extensionRate"],
  ["returnRate", "returnRate"],
];

/** The caller's department's figures for a month and the assignments behind a shortfall, so the head can act on them. */
export function Figures({ who }: { who: Session }) {
  const department = who.caller.department;
  const [month, setMonth] = useState(districtMonth(new Date()));
  const [kind, setKind] = useState(ShortfallKind.LATE_REPORT_IN);
  const [stats, setStats] = useState<DepartmentStats | undefined>();
  const [shortfalls, setShortfalls] = useState<Shortfall[]>([]);
  const [error, setError] = useState("");
  const names = useNames();
  const period = { period: { case: "month" as const, value: month } };
  useEffect(() => {
    supervision.getDepartmentStats({ department, period }).then(
      (a) => setStats(a.stats),
      (err: unknown) => setError(describe(err)),
    );
  }, [month]);
  useEffect(() => {
    supervision.listShortfalls({ department, period, kind, pageSize: 100 }).then(
      (a) => setShortfalls(a.shortfalls),
      (err: unknown) => setError(describe(err)),
    );
  }, [month, kind]);
  return (
    <section class="figures-page" data-testid="figures">
      <div class="bar">
        <h2>
          {t("myFigures")} · {names.department(department)}
        </h2>
        <label>
          {t("month")}{" "}
          <input name="month" type="month" value={month} onChange={(e) => e.currentTarget.value && setMonth(e.currentTarget.value)} />
        </label>
      </div>
      {error && <p class="error">{error}</p>}
      {stats && (
        <div class="tiles">
          {FIGURES.map(([field, label]) => {
            const r = stats[field] as Ratio | undefined;
            return (
              <div class="tile" key={field}>
                <h3>{t(label)}</h3>
                <p class="count">{percent(r)}</p>
                <p class="empty">
                  {r ? `${r.numerator} / ${r.denominator}` : "—"}
                </p>
              </div>
            );
          })}
        </div>
      )}
      <div class="bar">
        <h3>{t("shortfalls")}</h3>
        <select name="kind" value={kind} onChange={(e) => setKind(Number(e.currentTarget.value) as ShortfallKind)}>
          {KINDS.map(([value, label]) => (
            <option key={value} value={value}>
              {t(label)}
            </option>
          ))}
        </select>
      </div>
      {shortfalls.length === 0 ? (
        <p class="empty">{t("none")}</p>
      ) : (
        <ul class="cases" data-testid="shortfalls">
          {shortfalls.map((s) => (
            <li key={`${s.case}-${s.department}`} class="case-row">
              <PageLink to={s.case}>
                <span class="grade">{gradeLabel(s.riskGrade)}</span>
                <span class="what">
                  <strong>{names.category(s.category)}</strong>
                  <span class="desc">{idOf(s.case).slice(-8)}</span>
                </span>
                <span class="state">{when(s.summonTime)}</span>
                <span class="countdown">{when(s.reportInTime)}</span>
              </PageLink>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
