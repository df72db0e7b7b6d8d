import { useEffect, useState } from "preact/hooks";
import { cases, describe, supervision } from "../api";
import { CaseLink } from "../links";
import { t } from "../i18n";
import { chime, useLive } from "../live";
import { useNow } from "../router";
import { countdown, date, gradeClass, gradeLabel, stageLabel, when } from "../format";
import { useNames } from "../names";
import { ExtensionState, type Extension, type SupervisionLetter } from "../gen/gridwhistle/v1/case_pb";
import type { Escalation, OverdueItem } from "../gen/gridwhistle/v1/supervision_pb";

/** The command centre's board: overdue work, escalations as they fire, pending extensions and unanswered letters. */
export function Board() {
  const [overdue, setOverdue] = useState<OverdueItem[]>([]);
  const [fired, setFired] = useState<Escalation[]>([]);
  const [extensions, setExtensions] = useState<Extension[]>([]);
  const [letters, setLetters] = useState<SupervisionLetter[]>([]);
  const [awaiting, setAwaiting] = useState(0);
  const [error, setError] = useState("");
  const names = useNames();
  const now = useNow();
  const load = async () => {
    try {
      const [o, x, l, a] = await Promise.all([
        supervision.listOverdue({ pageSize: 100 }),
        supervision.listExtensions({ pageSize: 100, state: ExtensionState.PENDING }),
        supervision.listSupervisionLetters({ pageSize: 100, unansweredOnly: true }),
        cases.listCases({ pageSize: 100, filter: "state = AWAITING_SUPERVISOR" }),
      ]);
      setOverdue(o.items);
      setExtensions(x.extensions);
      setLetters(l.letters);
      setAwaiting(a.cases.length);
      setError("");
    } catch (err) {
      setError(describe(err));
    }
  };
  useEffect(() => {
    void load();
    // Extensions and letters have no stream of their own: the lists are read again every half minute.
    const timer = setInterval(() => void load(), 30_000);
    return () => clearInterval(timer);
  }, []);
  const decide = async (x: Extension, approved: boolean) => {
    try {
      await supervision.decideExtension({
        name: x.name,
        approved,
        approvedDueTime: approved ? x.requestedDueTime : undefined,
        reason: approved ? "同意" : "理由不充分",
        requestId: crypto.randomUUID(),
      });
      await load();
    } catch (err) {
      setError(describe(err));
    }
  };
  const live = useLive(
    (cursor, signal) => supervision.watchEscalations({ cursor }, { signal }),
    (message) => {
      const escalation = message.escalation;
      if (!escalation) return;
      setFired((list) => [escalation, ...list].slice(0, 50));
      chime();
      void load();
    },
  );
  return (
    <section class="board" data-testid="board">
      <div class="bar">
        <h2>{t("board")}</h2>
        <span class={`live ${live}`} data-testid="live">
          {live === "live" ? t("live") : t("reconnecting")}
        </span>
      </div>
      {error && <p class="error">{error}</p>}
      <div class="tiles">
        <div class="tile">
          <h3>{t("escalations")}</h3>
          <ul data-testid="escalations">
            {fired.length === 0 && <li class="empty">{t("none")}</li>}
            {fired.map((e, i) => (
              <li key={`${e.case}-${e.stage}-${e.escalationLevel}-${i}`}>
                <CaseLink name={e.case} /> {names.department(e.department)} · {stageLabel(e.stage)} ·{" "}
                {t("escalationLevel")} {e.escalationLevel} · {when(e.fireTime)}
              </li>
            ))}
          </ul>
        </div>
        <div class="tile">
          <h3>
            {t("overdue")} ({overdue.length})
          </h3>
          <ul data-testid="overdue">
            {overdue.map((o, i) => {
              const due = date(o.dueTime);
              return (
                <li key={`${o.case}-${o.department}-${o.stage}-${i}`} class={gradeClass(o.riskGrade)}>
                  <span class="grade">{gradeLabel(o.riskGrade)}</span> <CaseLink name={o.case} />{" "}
                  {names.department(o.department)} · {stageLabel(o.stage)} ·{" "}
                  <span class="overdue">
                    {t("overdueBy")} {due ? countdown(due, now).text : "—"}
                  </span>
                </li>
              );
            })}
          </ul>
        </div>
        <div class="tile">
          <h3>
            {t("pendingExtensions")} ({extensions.length})
          </h3>
          <ul data-testid="extensions">
            {extensions.map((x) => (
              <li key={x.name} data-extension={x.name}>
                <CaseLink name={x.name.split("/extensions/")[0] ?? ""} /> {names.department(x.department)} ·{" "}
                {stageLabel(x.stage)} → {when(x.requestedDueTime)} · {x.reason}
                <span class="buttons">
                  <button type="button" data-action="approve" onClick={() => void decide(x, true)}>
                    {t("approve")}
                  </button>
                  <button type="button" class="secondary" data-action="refuse" onClick={() => void decide(x, false)}>
                    {t("refuse")}
                  </button>
                </span>
              </li>
            ))}
          </ul>
        </div>
        <div class="tile">
          <h3>
            {t("unansweredLetters")} ({letters.length})
          </h3>
          <ul data-testid="letters">
            {letters.map((l) => (
              <li key={l.name}>
                {names.department(l.department)} · {when(l.replyDueTime)} · {l.text}
              </li>
            ))}
          </ul>
        </div>
        <div class="tile">
          <h3>{t("awaitingDecision")}</h3>
          <p class="count">{awaiting}</p>
        </div>
      </div>
    </section>
  );
}
