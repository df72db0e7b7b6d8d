import { useEffect, useState } from "preact/hooks";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { cases, describe, supervision } from "../api";
import { t } from "../i18n";
import { when } from "../format";
import { CaseLink } from "../links";
import { useNames } from "../names";
import type { Case, SupervisionLetter } from "../gen/gridwhistle/v1/case_pb";

/** The letters sent to the caller's department and not yet answered, each with a reply box; `version` re-reads them. */
export function DepartmentLetters({ version }: { version: number }) {
  const [letters, setLetters] = useState<SupervisionLetter[]>([]);
  const [error, setError] = useState("");
  const load = async () => {
    try {
      setLetters((await supervision.listSupervisionLetters({ pageSize: 50, unansweredOnly: true })).letters);
    } catch (err) {
      setError(describe(err));
    }
  };
  useEffect(() => void load(), [version]);
  if (letters.length === 0 && !error) return null;
  return (
    <section class="letters" data-testid="department-letters">
      <h3>{t("unansweredLetters")}</h3>
      {error && <p class="error">{error}</p>}
      <ul>
        {letters.map((l) => (
          <LetterReply key={l.name} letter={l} onAnswered={load} />
        ))}
      </ul>
    </section>
  );
}

function LetterReply({ letter, onAnswered }: { letter: SupervisionLetter; onAnswered: () => Promise<void> }) {
  const [reply, setReply] = useState("");
  const [error, setError] = useState("");
  const send = async () => {
    try {
      await cases.acknowledgeSupervisionLetter({ name: letter.name, reply, requestId: crypto.randomUUID() });
      await onAnswered();
    } catch (err) {
      setError(describe(err));
    }
  };
  return (
    <li class="letter">
      <p>
        <strong>{t("letters")}</strong> · {t("due")} {when(letter.replyDueTime)}
      </p>
      <p class="text">{letter.text}</p>
      <p class="links">
        {letter.cases.map((name) => (
          <CaseLink key={name} name={name} />
        ))}
      </p>
      <textarea name="reply" placeholder={t("reply")} value={reply} onInput={(e) => setReply(e.currentTarget.value)} />
      <button type="button" data-action="acknowledge" onClick={() => void send()}>
        {t("acknowledge")}
      </button>
      {error && <p class="error">{error}</p>}
    </li>
  );
}

/** A supervisor's letter (督办函) about this case to one of its departments, to be answered within three days. */
export function IssueLetter({ c, onIssued }: { c: Case; onIssued: () => Promise<void> }) {
  const names = useNames();
  const [department, setDepartment] = useState(c.assignments[0]?.department ?? "");
  const [text, setText] = useState("");
  const [days, setDays] = useState(3);
  const [error, setError] = useState("");
  const [letterId] = useState(() => crypto.randomUUID());
  const send = async () => {
    setError("");
    try {
      await supervision.issueSupervisionLetter({
        letterId,
        department,
        cases: [c.name],
        text,
        replyDueTime: timestampFromDate(new Date(Date.now() + days * 86_400_000)),
      });
      setText("");
      await onIssued();
    } catch (err) {
      setError(describe(err));
    }
  };
  return (
    <div class="actions" data-testid="issue-letter">
      <h3>{t("issueLetter")}</h3>
      <label>
        {t("department")}
        <select name="department" value={department} onChange={(e) => setDepartment(e.currentTarget.value)}>
          {c.assignments.map((a) => (
            <option key={a.department} value={a.department}>
              {names.department(a.department)}
            </option>
          ))}
        </select>
      </label>
      <label>
        {t("replyWithinDays")}
        <input name="days" type="number" min={1} max={30} value={days} onInput={(e) => setDays(Number(e.currentTarget.value) || 3)} />
      </label>
      <textarea name="letter" placeholder={t("text")} value={text} onInput={(e) => setText(e.currentTarget.value)} />
      <div class="buttons">
        <button type="button" data-action="issueLetter" onClick={() => void send()}>
          {t("send")}
        </button>
      </div>
      {error && <p class="error" role="alert">{error}</p>}
    </div>
  );
}
