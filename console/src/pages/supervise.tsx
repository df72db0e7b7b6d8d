import { useState } from "preact/hooks";
import { describe, supervision } from "../api";
import { t } from "../i18n";
import { gradeLabel } from "../format";
import { useNames } from "../names";
import { CaseState, type Case } from "../gen/gridwhistle/v1/case_pb";
import { AssignmentRole, RiskGrade } from "../gen/gridwhistle/v1/common_pb";

/**
 * A supervisor's steering of an open case: name its lead and assisting departments by hand (chosen from the
 * directory), or raise or lower its grade; each with the reason the timeline keeps.
 */
export function Steer({ c, onDone }: { c: Case; onDone: () => Promise<void> }) {
  const names = useNames();
  const [lead, setLead] = useState(c.assignments.find((a) => a.role === AssignmentRole.LEAD)?.department ?? "");
  const [assists, setAssists] = useState<string[]>(
    c.assignments.filter((a) => a.role === AssignmentRole.ASSIST).map((a) => a.department),
  );
  const [grade, setGrade] = useState(c.riskGrade);
  const [reason, setReason] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  // The same id on every retry of one decision; a new one after it is taken.
  const [requestId, setRequestId] = useState(() => crypto.randomUUID());
  if (c.state === CaseState.CLOSED) return null;
  const run = async (step: () => Promise<unknown>) => {
    setBusy(true);
    setError("");
    try {
      await step();
      setReason("");
      setRequestId(crypto.randomUUID());
      await onDone();
    } catch (err) {
      setError(describe(err));
    } finally {
      setBusy(false);
    }
  };
  const reassign = () =>
    run(() =>
      supervision.reassignCase({
        name: c.name,
        leadDepartment: lead,
        assistingDepartments: assists.filter((d) => d !== lead),
        reason,
        etag: c.etag,
        requestId,
      }),
    );
  const regrade = () => run(() => supervision.regradeCase({ name: c.name, riskGrade: grade, reason, etag: c.etag, requestId }));
  const departments = names.allDepartments();
  return (
    <div class="actions" data-testid="steer">
      <h3>{t("reassign")}</h3>
      <label>
        {t("lead")}
        <select name="lead" value={lead} onChange={(e) => setLead(e.currentTarget.value)}>
          {departments.map((d) => (
            <option key={d.name} value={d.name}>
              {d.displayName}
            </option>
          ))}
        </select>
      </label>
      <label>
        {t("assist")}
        <select
          name="assists"
          multiple
          size={5}
          onChange={(e) => setAssists(Array.from(e.currentTarget.selectedOptions, (o) => o.value))}
        >
          {departments
            .filter((d) => d.name !== lead)
            .map((d) => (
              <option key={d.name} value={d.name} selected={assists.includes(d.name)}>
                {d.displayName}
              </option>
            ))}
        </select>
      </label>
      <label>
        {t("grade")}
        <select name="grade" value={String(grade)} onChange={(e) => setGrade(Number(e.currentTarget.value) as RiskGrade)}>
          {[RiskGrade.A, RiskGrade.B, RiskGrade.C].map((g) => (
            <option key={g} value={String(g)}>
              {gradeLabel(g)}
            </option>
          ))}
        </select>
      </label>
      <textarea name="steer-reason" placeholder={t("reason")} value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
      <div class="buttons">
        <button type="button" disabled={busy} data-action="reassign" onClick={() => void reassign()}>
          {t("reassign")}
        </button>
        <button type="button" disabled={busy || grade === c.riskGrade} data-action="regrade" onClick={() => void regrade()}>
          {t("regrade")}
        </button>
      </div>
      {error && <p class="error" role="alert">{error}</p>}
    </div>
  );
}
