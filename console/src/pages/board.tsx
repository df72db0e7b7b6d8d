import { useEffect, useState } from "preact/hooks";
import { cases, describe, onSession, supervision } from "../api";
import { CaseLink } from "../links";
import { t } from "../i18n";
import { chime, useLive } from "../live";
import { useNow } from "../router";
import { countdown, date, gradeClass, gradeLabel, stageLabel, when } from "../format";
import { useNames } from "../names";
import { ExtensionState, type Case, type Extension, type SupervisionLetter } from "../gen/gridwhistle/v1/case_pb";
import type { Escalation, OverdueItem } from "../gen/gridwhistle/v1/supervision_pb";

/** The escalations that fired while the console was open, newest first: kept when the supervisor looks at another page. */
let firedSoFar: Escalation[] = [];
onSession((signedIn) => {
  if (!signedIn) firedSoFar = [];
});

/** The command centre's board: overdue work, escalations as they fire, pending extensions and unanswered letters. */
export function Board() {
  const [overdue, setOverdue] = useState<OverdueItem[]>([]);
  const [fired, setFired] = useState<Escalation[]>(firedSoFar);
  const [extensions, setExtensions] = useState<Extension[]>([]);
  const [letters, setLetters] = useState<SupervisionLetter[]>([]);
  const [awaiting, setAwaiting] = useState<Case[]>([]);
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
      setAwaiting(a.cases);
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
  const live = useLive(
    (cursor, options) => supervision.watchEscalations({ cursor }, options),
    (message) => {
      const escalation = message.escalation;
      if (!escalation) return;
      firedSoFar = [escalation, ...firedSoFar].slice(0, 50);
      setFired(firedSoFar);
      chime();
      void load();
    },
    { onOpen: () => void load() },
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
              <ExtensionDecision key={x.name} x={x} onDecided={load} onError={setError} />
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
          <h3>
            {t("awaitingDecision")} ({awaiting.length})
          </h3>
          <ul data-testid="awaiting">
            {awaiting.map((c) => (
              <li key={c.name} class={gradeClass(c.riskGrade)}>
                <span class="grade">{gradeLabel(c.riskGrade)}</span> <CaseLink name={c.name} /> {names.category(c.category)} ·{" "}
                {when(c.updateTime)}
              </li>
            ))}
          </ul>
        </div>
      </div>
    </section>
  );
}

/** A pending extension, approved or refused with the supervisor's own note (a refusal needs one). */
function ExtensionDecision({
  x,
  onDecided,
  onError,
}: {
  x: Extension;
  onDecided: () => Promise<void>;
  onError: (message: string) => void;
}) {
  const names = useNames();
  const [reason, setReason] = useState("");
  const [busy, setBusy] = useState(false);
  const [requestId] = useState(() => crypto.randomUUID());
  const decide = async (approved: boolean) => {
    setBusy(true);
    try {
      await supervision.decideExtension({
        name: x.name,
        approved,
        approvedDueTime: approved ? x.requestedDueTime : undefined,
        reason,
        requestId,
      });
      await onDecided();
    } catch (err) {
      onError(describe(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <li data-extension={x.name}>
      <CaseLink name={x.name.split("/extensions/")[0] ?? ""} /> {names.department(x.department)} · {stageLabel(x.stage)} →{" "}
      {when(x.requestedDueTime)} · {x.reason}
      <input name="decision-reason" placeholder={t("decisionReason")} value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
      <span class="buttons">
        <button type="button" disabled={busy} data-action="approve" onClick={() => void decide(true)}>
          {t("approve")}
        </button>
        <button
          type="button"
          class="secondary"
          disabled={busy || reason.trim() === ""}
          data-action="refuse"
          onClick={() => void decide(false)}
        >
          {t("refuse")}
        </button>
      </span>
    </li>
  );
}
