import { useRef, useState } from "preact/hooks";
import { cases, describe, idOf, type Session } from "../api";
import { t } from "../i18n";
import { chime, useLive } from "../live";
import { useNow } from "../router";
import { PageLink } from "../links";
import { countdown, countdownWords, gradeClass, gradeLabel, nearestDue, caseStateLabel } from "../format";
import { Code, ConnectError } from "@connectrpc/connect";
import { AssignmentState, CaseEventKind, type Case } from "../gen/gridwhistle/v1/case_pb";
import { useNames } from "../names";
import { DepartmentLetters } from "./letters";

/** The assignment states of a department still on a case and not finished with it: what the inbox lists. */
const ACTIVE = new Set([AssignmentState.SUMMONED, AssignmentState.REPORTED_IN, AssignmentState.CONTACTED]);

/** Events that change the department's letters, which wait above the inbox. */
const LETTER_EVENTS = new Set([CaseEventKind.SUPERVISION_LETTER, CaseEventKind.SUPERVISION_LETTER_ANSWERED]);

/**
 * The department's open cases, the nearest due time first, kept current by the inbox stream: each event reads its
 * one case again and puts it in its place, or takes it out once the department is done with it.
 */
export function Inbox({ who }: { who: Session }) {
  const department = who.caller.department;
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
  const belongs = (c: Case) => c.assignments.some((a) => a.department === department && ACTIVE.has(a.state));
  const dueOf = (c: Case) => nearestDue(c, department)?.getTime() ?? Infinity;
  const byDue = (a: Case, b: Case) => dueOf(a) - dueOf(b) || a.name.localeCompare(b.name);
  const merge = async (name: string) => {
    let got: Case | undefined;
    try {
      got = (await cases.getCase({ name })).case;
    } catch (err) {
      if (!(err instanceof ConnectError && err.code === Code.NotFound)) {
        setError(describe(err));
        return;
      }
    }
    const listed = got !== undefined && belongs(got);
    setList((current) => {
      const rest = (current ?? []).filter((c) => c.name !== name);
      return got && listed ? [...rest, got].sort(byDue) : rest;
    });
    if (listed && !known.current.has(name)) {
      known.current.add(name);
      setFresh((n) => n + 1);
      chime();
    }
  };
  const live = useLive(
    (cursor, options) => cases.watchInbox({ cursor }, options),
    (message) => {
      void merge(message.case);
      if (message.event && LETTER_EVENTS.has(message.event.kind)) setVersion((v) => v + 1);
    },
    // The list is read once the stream has its starting point, so nothing falls between the two; and again whenever
    // the stream had to start afresh.
    {
      onOpen: () => {
        void load();
        setVersion((v) => v + 1);
      },
    },
  );
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
                <PageLink to={`cases/${id}`}>
                  <span class="grade" title={t("grade")}>
                    {gradeLabel(c.riskGrade)}
                  </span>
                  <span class="what">
                    <strong>{names.category(c.category)}</strong>
                    <span class="desc">{c.description}</span>
                  </span>
                  <span class="state">{caseStateLabel(c.state)}</span>
                  <span class={`countdown ${left?.overdue ? "overdue" : ""}`}>
                    {left ? countdownWords(left) : "—"}
                  </span>
                </PageLink>
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}
