import { useEffect, useRef, useState } from "preact/hooks";
import { cases, describe, idOf, type Session } from "../api";
import { t } from "../i18n";
import { chime, useLive } from "../live";
import { go, useNow } from "../router";
import { countdown, gradeClass, gradeLabel, nearestDue, caseStateLabel } from "../format";
import type { Case } from "../gen/gridwhistle/v1/case_pb";
import { useNames } from "../names";
import { DepartmentLetters } from "./letters";

/** The department's open cases, the nearest due time first, kept current by the inbox stream. */
export function Inbox({ who }: { who: Session }) {
  const [list, setList] = useState<Case[] | null>(null);
  const [error, setError] = useState("");
  const [fresh, setFresh] = useState(0);
  const [version, setVersion] = useState(0);
  const known = useRef(new Set<string>());
  const now = useNow();
  const names = useNames();
  const load = async () => {
    try {
      const answer = await cases.listInbox({ pageSize: 200, orderBy: "due_time" });
      const arrived = answer.cases.filter((c) => !known.current.has(c.name));
      if (known.current.size > 0 && arrived.length > 0) {
        setFresh((n) => n + arrived.length);
        chime();
      }
      for (const c of answer.cases) known.current.add(c.name);
      setList(answer.cases);
      setError("");
    } catch (err) {
      setError(describe(err));
    }
  };
  useEffect(() => void load(), []);
  const live = useLive(
    (cursor, signal) => cases.watchInbox({ cursor }, { signal }),
    () => {
      setVersion((v) => v + 1);
      void load();
    },
  );
  const department = who.caller.department;
  return (
    <section class="inbox">
      <div class="bar">
        <h2>{t("inbox")}</h2>
        {fresh > 0 && (
          <button type="button" class="badge" data-testid="new-badge" onClick={() => setFresh(0)}>
            {fresh} {t("newCases")}
          </button>
        )}
        <span class={`live ${live}`} data-testid="live">
          {live === "live" ? t("live") : t("reconnecting")}
        </span>
      </div>
      {error && <p class="error">{error}</p>}
      <DepartmentLetters version={version} />
      {list === null ? (
        <p>{t("loading")}</p>
      ) : list.length === 0 ? (
        <p class="empty">{t("noCases")}</p>
      ) : (
        <ul class="cases" data-testid="inbox">
          {list.map((c) => {
            const due = nearestDue(c, department);
            const left = due ? countdown(due, now) : undefined;
            const id = idOf(c.name);
            return (
              <li key={c.name} class={`case-row ${gradeClass(c.riskGrade)}`} data-case={id}>
                <a href={`/console/cases/${id}`} onClick={(e) => (e.preventDefault(), go(`cases/${id}`))}>
                  <span class="grade" title={t("grade")}>
                    {gradeLabel(c.riskGrade)}
                  </span>
                  <span class="what">
                    <strong>{names.category(c.category)}</strong>
                    <span class="desc">{c.description}</span>
                  </span>
                  <span class="state">{caseStateLabel(c.state)}</span>
                  <span class={`countdown ${left?.overdue ? "overdue" : ""}`}>
                    {left ? `${left.overdue ? t("overdueBy") + " " : ""}${left.text}${left.overdue ? "" : " " + t("left")}` : "—"}
                  </span>
                </a>
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}
