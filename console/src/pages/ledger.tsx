import { useEffect, useState } from "preact/hooks";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, ledger, readPages, type Session } from "../api";
import { t } from "../i18n";
import { go, useNow } from "../router";
import { CaseLink, PageLink, Tabs } from "../links";
import { colourClass, colourLabel, countdown, countdownWords, date, gradeLabel, ledgerEventLabel, ledgerStateLabel, stepStateLabel, when } from "../format";
import { useNames } from "../names";
import { Role } from "../gen/gridwhistle/v1/common_pb";
import { LedgerColour, LedgerStepState, type LedgerEntry, type LedgerStep } from "../gen/gridwhistle/v1/ledger_pb";

const COLOURS = [LedgerColour.UNSPECIFIED, LedgerColour.RED, LedgerColour.YELLOW, LedgerColour.BLUE];

/**
 * The ledger of long-standing cases (积案台账): the entries the caller may read, by colour, by the leader who owns
 * them (a district leader sees their own first), or only those with a step past its due time.
 */
export function LedgerList({ who }: { who: Session }) {
  const names = useNames();
  const now = useNow();
  const [colour, setColour] = useState(LedgerColour.UNSPECIFIED);
  const [leader, setLeader] = useState(who.caller.role === Role.DISTRICT_LEADER ? who.caller.user : "");
  const [overdueOnly, setOverdueOnly] = useState(false);
  const [entries, setEntries] = useState<LedgerEntry[] | null>(null);
  // The leaders met so far, to choose from: the API names a leader on each entry.
  const [leaders, setLeaders] = useState<string[]>(leader ? [leader] : []);
  const [error, setError] = useState("");
  useEffect(() => {
    setError("");
    void (async () => {
      try {
        const { items: found } = await readPages(
          (pageToken) =>
            ledger
              .listLedgerEntries({ pageSize: 200, pageToken, colour, leader, overdueOnly })
              .then((page) => ({ items: page.entries, nextPageToken: page.nextPageToken })),
          1000,
        );
        setEntries(found);
        const met = found.map((e) => e.leader).filter(Boolean);
        names.people(met);
        setLeaders((known) => [...new Set([...known, ...met])]);
      } catch (err) {
        setError(describe(err));
      }
    })();
  }, [colour, leader, overdueOnly]);
  return (
    <section class="ledger" data-testid="ledger">
      <div class="bar">
        <h2>{t("ledger")}</h2>
        <Tabs
          tabs={COLOURS.map((c) => ({
            value: c,
            label: c ? colourLabel(c) : t("all"),
            id: LedgerColour[c],
            className: c ? colourClass(c) : "",
          }))}
          value={colour}
          onChange={setColour}
        />
        <label>
          {t("leader")}{" "}
          <select name="leader" value={leader} onChange={(e) => setLeader(e.currentTarget.value)}>
            <option value="">{t("all")}</option>
            {leaders.map((l) => (
              <option key={l} value={l}>
                {names.person(l)}
              </option>
            ))}
          </select>
        </label>
        <label>
          <input type="checkbox" name="overdue-only" checked={overdueOnly} onChange={(e) => setOverdueOnly(e.currentTarget.checked)} />{" "}
          {t("overdue")}
        </label>
      </div>
      {error && <p class="error" role="alert">{error}</p>}
      {entries === null ? (
        <p>{t("loading")}</p>
      ) : (
        <ul class="cases">
          {entries.length === 0 && <li class="empty">{t("none")}</li>}
          {entries.map((e) => {
            const due = date(e.nextDueTime);
            const left = due ? countdown(due, now) : undefined;
            return (
              <li key={e.name} class={colourClass(e.colour)} data-entry={e.name.slice("ledgerEntries/".length)}>
                <span class="grade">{colourLabel(e.colour)}</span>{" "}
                <PageLink to={e.name}>{e.title}</PageLink>{" "}
                · {names.department(e.responsibleUnit)} · {e.leader ? names.person(e.leader) : t("none")} · {ledgerStateLabel(e.state)}
                {left && (
                  <span class={left.overdue ? "overdue" : "left"}>
                    {" "}
                    · {countdownWords(left)}
                  </span>
                )}
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}

/** One ledger entry (一案一策): who owns it, its plan's steps with their due dates, and what happened, in order. */
export function LedgerEntryPage({ id, who }: { id: string; who: Session }) {
  const name = `ledgerEntries/${id}`;
  const names = useNames();
  const now = useNow();
  const [entry, setEntry] = useState<LedgerEntry | null>(null);
  const [missing, setMissing] = useState(false);
  const [error, setError] = useState("");
  const load = async () => {
    try {
      const answer = await ledger.getLedgerEntry({ name });
      if (!answer.entry) throw new Error("no entry in the answer");
      setEntry(answer.entry);
      names.people([answer.entry.leader, ...answer.entry.timeline.map((e) => e.actor), ...answer.entry.steps.map((s) => s.doneBy)]);
      setError("");
    } catch (err) {
      if (err instanceof ConnectError && err.code === Code.NotFound) setMissing(true);
      else setError(describe(err));
    }
  };
  useEffect(() => void load(), [id]);
  if (missing) return <p class="error" data-testid="entry-missing">{t("entryMissing")}</p>;
  if (!entry) return <p>{error || t("loading")}</p>;
  return (
    <section class={`case ${colourClass(entry.colour)}`} data-testid="ledger-entry">
      <div class="bar">
        <button type="button" class="link" onClick={() => go("ledger")}>
          ← {t("back")}
        </button>
        <h2>{entry.title}</h2>
        <span class="grade">{colourLabel(entry.colour)}</span>
        <span class="state">{ledgerStateLabel(entry.state)}</span>
      </div>
      {error && <p class="error" role="alert">{error}</p>}
      <div class="columns">
        <div>
          <h3>{t("summary")}</h3>
          <p class="description">{entry.summary}</p>
          <table class="deadlines">
            <tbody>
              <tr>
                <td>{t("since")}</td>
                <td>{when(entry.sinceTime)}</td>
              </tr>
              <tr>
                <td>{t("grade")}</td>
                <td>{gradeLabel(entry.grade)}</td>
              </tr>
              <tr>
                <td>{t("responsibleUnit")}</td>
                <td>{names.department(entry.responsibleUnit)}</td>
              </tr>
              <tr>
                <td>{t("responsiblePerson")}</td>
                <td>{entry.responsiblePerson || "—"}</td>
              </tr>
              <tr>
                <td>{t("leader")}</td>
                <td data-testid="entry-leader">{entry.leader ? names.person(entry.leader) : t("none")}</td>
              </tr>
              {entry.case && (
                <tr>
                  <td>{t("description")}</td>
                  <td>
                    <CaseLink name={entry.case} />
                  </td>
                </tr>
              )}
            </tbody>
          </table>
          <h3>{t("steps")}</h3>
          <ol class="steps" data-testid="steps">
            {entry.steps.map((s) => (
              <Step key={s.number} entry={entry} step={s} now={now} who={who} onDone={load} onError={setError} />
            ))}
          </ol>
        </div>
        <div>
          <h3>{t("timeline")}</h3>
          <ol class="timeline" data-testid="timeline">
            {entry.timeline.map((e) => (
              <li key={String(e.sequence)}>
                <time>{when(e.createTime)}</time> <strong>{ledgerEventLabel(e.kind)}</strong> {e.actor && names.person(e.actor)}
                {e.text && <p>{e.text}</p>}
              </li>
            ))}
          </ol>
        </div>
      </div>
    </section>
  );
}

/** A step of the plan, with its due date and countdown; the responsible department's staff complete an open one here. */
function Step({
  entry,
  step,
  now,
  who,
  onDone,
  onError,
}: {
  entry: LedgerEntry;
  step: LedgerStep;
  now: Date;
  who: Session;
  onDone: () => Promise<void>;
  onError: (message: string) => void;
}) {
  const names = useNames();
  const [result, setResult] = useState("");
  const due = date(step.dueTime);
  const open = step.state === LedgerStepState.OPEN;
  const left = due && open ? countdown(due, now) : undefined;
  const complete = async () => {
    try {
      await ledger.completeLedgerStep({ name: entry.name, etag: entry.etag, step: step.number, result });
      setResult("");
      await onDone();
    } catch (err) {
      onError(describe(err));
    }
  };
  return (
    <li data-step={step.number} data-state={LedgerStepState[step.state]}>
      <strong>{step.description}</strong> · {names.department(step.department)} · {t("due")} {when(step.dueTime)} ·{" "}
      {stepStateLabel(step.state)}
      {left && <span class={left.overdue ? "overdue" : ""}> · {countdownWords(left)}</span>}
      {step.state === LedgerStepState.DONE && (
        <p>
          {t("doneAt")} {when(step.doneTime)} · {names.person(step.doneBy)} · {step.result}
        </p>
      )}
      {open && who.caller.department === entry.responsibleUnit && (
        <div class="actions">
          <textarea name="step-result" placeholder={t("result")} value={result} onInput={(e) => setResult(e.currentTarget.value)} />
          <button type="button" data-action="completeStep" onClick={() => void complete()}>
            {t("complete")}
          </button>
        </div>
      )}
    </li>
  );
}
