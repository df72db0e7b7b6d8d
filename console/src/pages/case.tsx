import { useEffect, useState } from "preact/hooks";
import { Code, ConnectError } from "@connectrpc/connect";
import { attachments, cases, describe, directory, type Session } from "../api";
import { t, type Key } from "../i18n";
import { go, useNow } from "../router";
import { useLive } from "../live";
import { upload } from "../upload";
import {
  assignmentStateLabel,
  caseStateLabel,
  countdown,
  countdownWords,
  date,
  deadlineStateLabel,
  gradeClass,
  gradeLabel,
  eventLabel,
  stageLabel,
  when,
} from "../format";
import { useNames } from "../names";
import { IssueLetter } from "./letters";
import { Steer } from "./supervise";
import { AreaMap } from "../map";
import {
  AssignmentState,
  CaseEventKind,
  DeadlineStage,
  DeadlineState,
  type Assignment,
  type Case,
  type CaseEvent,
} from "../gen/gridwhistle/v1/case_pb";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { AssignmentRole, CoordinateSystem, Role } from "../gen/gridwhistle/v1/common_pb";

type Action = "reportIn" | "recordContact" | "postProgress" | "complete" | "returnCase" | "requestExtension";

export function CasePage({ id, who }: { id: string; who: Session }) {
  const name = `cases/${id}`;
  const [shown, setShown] = useState<{ c: Case; timeline: CaseEvent[] } | null>(null);
  const [missing, setMissing] = useState(false);
  const [error, setError] = useState("");
  const [area, setArea] = useState("");
  const names = useNames();
  const now = useNow();
  const load = async () => {
    try {
      const answer = await cases.getCase({ name });
      if (!answer.case) throw new Error("no case in the answer");
      setShown({ c: answer.case, timeline: answer.timeline });
      names.people(answer.timeline.map((e) => e.actor));
      setError("");
    } catch (err) {
      if (err instanceof ConnectError && err.code === Code.NotFound) setMissing(true);
      else setError(describe(err));
    }
  };
  useEffect(() => {
    void load();
    void directory.getMyArea({}).then(
      (a) => setArea(a.geojson),
      () => setArea(""),
    );
  }, [id]);
  // The department's stream tells of every change to its cases: this one's are shown as they happen. Only a
  // department's staff have an inbox to watch.
  useLive(
    (cursor, options) => cases.watchInbox({ cursor }, options),
    (message) => {
      if (message.case === name) void load();
    },
    { enabled: Boolean(who.caller.department), onOpen: () => void load() },
  );
  if (missing) {
    return (
      <section class="case" data-testid="case-missing">
        <p class="error">{t("notFound")}</p>
        <button type="button" onClick={() => go("")}>
          {t("back")}
        </button>
      </section>
    );
  }
  if (!shown) return <p>{error || t("loading")}</p>;
  const { c, timeline } = shown;
  const mine = c.assignments.find((a) => a.department === who.caller.department);
  const loc = c.location;
  return (
    <section class={`case ${gradeClass(c.riskGrade)}`} data-testid="case" data-state={c.state}>
      <div class="bar">
        <button type="button" class="link" onClick={() => go("")}>
          ← {t("back")}
        </button>
        <h2>{names.category(c.category)}</h2>
        <span class="grade">{gradeLabel(c.riskGrade)}</span>
        <span class="state" data-testid="case-state">
          {caseStateLabel(c.state)}
        </span>
      </div>
      {error && <p class="error" role="alert">{error}</p>}
      <div class="columns">
        <div>
          <h3>{t("description")}</h3>
          <p class="description">{c.description}</p>
          {loc && (
            <AreaMap
              geojson={area}
              pins={[{ lat: loc.latitude, lng: loc.longitude, label: c.description, className: gradeClass(c.riskGrade) }]}
            />
          )}
          <h3>{t("parties")}</h3>
          {c.parties.length === 0 ? (
            <p>{t("none")}</p>
          ) : (
            <ul class="parties">
              {c.parties.map((p, i) => (
                <li key={i}>
                  {p.name} {p.phone} {p.relation} {p.masked && <em>({t("masked")})</em>}
                </li>
              ))}
            </ul>
          )}
          <h3>{t("deadlines")}</h3>
          <table class="deadlines">
            <tbody>
              {c.assignments.map((a) =>
                a.deadlines.map((d, i) => {
                  const due = date(d.dueTime);
                  const owed = d.state === DeadlineState.PENDING || d.state === DeadlineState.BREACHED;
                  const left = due && owed ? countdown(due, now) : undefined;
                  return (
                    <tr key={`${a.department}-${i}`}>
                      <td>
                        {names.department(a.department)} · {a.role === AssignmentRole.LEAD ? t("lead") : t("assist")} ·{" "}
                        {assignmentStateLabel(a.state)}
                      </td>
                      <td>{stageLabel(d.stage)}</td>
                      <td>{when(d.dueTime)}</td>
                      <td class={left?.overdue ? "overdue" : ""}>
                        {left ? countdownWords(left) : deadlineStateLabel(d.state)}
                        {d.escalationLevel > 0 && ` · ${t("escalationLevel")} ${d.escalationLevel}`}
                      </td>
                    </tr>
                  );
                }),
              )}
            </tbody>
          </table>
          {mine && <Actions c={c} mine={mine} onDone={load} onError={setError} />}
          {who.caller.role === Role.SUPERVISOR && (
            <>
              <IssueLetter c={c} onIssued={load} />
              <Steer c={c} onDone={load} />
            </>
          )}
        </div>
        <div>
          <h3>{t("timeline")}</h3>
          <ol class="timeline" data-testid="timeline">
            {timeline.map((e) => (
              <li key={String(e.sequence)} data-kind={CaseEventKind[e.kind]}>
                <time>{when(e.time)}</time> <strong>{eventLabel(e.kind)}</strong> {names.person(e.actor)}
                {e.department && ` · ${names.department(e.department)}`}
                {e.text && <p>{e.text}</p>}
                {e.attachments.length > 0 && <Photos owner={c.name} names={e.attachments} />}
              </li>
            ))}
          </ol>
        </div>
      </div>
    </section>
  );
}

function Actions({
  c,
  mine,
  onDone,
  onError,
}: {
  c: Case;
  mine: Assignment;
  onDone: () => Promise<void>;
  onError: (message: string) => void;
}) {
  const state = mine.state;
  const [text, setText] = useState("");
  const [files, setFiles] = useState<File[]>([]);
  const [extraDays, setExtraDays] = useState(3);
  const [busy, setBusy] = useState(false);
  const open = state !== AssignmentState.COMPLETED && state !== AssignmentState.RETURNED && state !== AssignmentState.WITHDRAWN;
  if (!open) return null;
  const run = async (action: Action) => {
    setBusy(true);
    onError("");
    const requestId = crypto.randomUUID();
    try {
      const attachments = action === "postProgress" || action === "complete" ? await uploadAll(files) : [];
      switch (action) {
        case "reportIn":
          await cases.reportIn({ name: c.name, etag: c.etag, requestId, location: await position() });
          break;
        case "recordContact":
          await cases.recordContact({ name: c.name, note: text, etag: c.etag, requestId });
          break;
        case "postProgress":
          await cases.postProgress({ name: c.name, text, attachments, etag: c.etag, requestId });
          break;
        case "complete":
          await cases.completeCase({ name: c.name, result: text, attachments, etag: c.etag, requestId });
          break;
        case "returnCase":
          await cases.returnCase({ name: c.name, reason: text, etag: c.etag, requestId });
          break;
        case "requestExtension": {
          // More days on the finish due time of this department's share.
          const finish = mine.deadlines.find((d) => d.stage === DeadlineStage.FINISH)?.dueTime;
          const from = finish ? timestampDate(finish).getTime() : Date.now();
          await cases.requestExtension({
            name: c.name,
            stage: DeadlineStage.FINISH,
            requestedDueTime: timestampFromDate(new Date(from + extraDays * 86_400_000)),
            reason: text,
            requestId,
          });
          break;
        }
      }
      setText("");
      setFiles([]);
      await onDone();
    } catch (err) {
      onError(describe(err));
    } finally {
      setBusy(false);
    }
  };
  const summoned = state === AssignmentState.SUMMONED;
  const buttons: [Action, Key][] = summoned
    ? [
        ["reportIn", "reportIn"],
        ["returnCase", "returnCase"],
      ]
    : [
        ["recordContact", "recordContact"],
        ["postProgress", "postProgress"],
        ["complete", "complete"],
        ["requestExtension", "requestExtension"],
        ["returnCase", "returnCase"],
      ];
  return (
    <div class="actions" data-testid="actions">
      <textarea
        name="text"
        placeholder={summoned ? t("reason") : t("text")}
        value={text}
        onInput={(e) => setText(e.currentTarget.value)}
      />
      {!summoned && (
        <label class="file">
          {t("addPhoto")}
          <input
            name="photos"
            type="file"
            accept="image/jpeg,image/png,image/heic"
            multiple
            onChange={(e) => setFiles(Array.from(e.currentTarget.files ?? []))}
          />
        </label>
      )}
      {!summoned && (
        <label class="file">
          {t("extensionDays")}
          <input
            name="extension-days"
            type="number"
            min={1}
            max={60}
            value={extraDays}
            onInput={(e) => setExtraDays(Number(e.currentTarget.value) || 3)}
          />
        </label>
      )}
      <div class="buttons">
        {buttons.map(([action, label]) => (
          <button key={action} type="button" disabled={busy} data-action={action} onClick={() => void run(action)}>
            {t(label)}
          </button>
        ))}
      </div>
    </div>
  );
}

async function uploadAll(files: File[]): Promise<string[]> {
  const names: string[] = [];
  for (const file of files) names.push(await upload(file));
  return names;
}

/** The browser's position, if it gives one within three seconds. */
function position() {
  return new Promise<
    { latitude: number; longitude: number; coordinateSystem: CoordinateSystem; accuracyMeters: number } | undefined
  >((resolve) => {
    if (!("geolocation" in navigator)) return resolve(undefined);
    const timer = setTimeout(() => resolve(undefined), 3000);
    navigator.geolocation.getCurrentPosition(
      (p) => {
        clearTimeout(timer);
        resolve({
          latitude: p.coords.latitude,
          longitude: p.coords.longitude,
          coordinateSystem: CoordinateSystem.WGS84,
          accuracyMeters: p.coords.accuracy,
        });
      },
      () => {
        clearTimeout(timer);
        resolve(undefined);
      },
      { timeout: 3000, maximumAge: 60_000 },
    );
  });
}

/** Photos downloaded through the API as attached to `owner` ("cases/{case}"), shown from blob addresses. */
function Photos({ owner, names }: { owner: string; names: string[] }) {
  const [urls, setUrls] = useState<string[]>([]);
  useEffect(() => {
    const made: string[] = [];
    void (async () => {
      for (const file of names) {
        // "attachments/{sha256}" is read as attached to this case.
        const name = file.startsWith("attachments/") ? `${owner}/${file}` : file;
        try {
          const parts: Uint8Array[] = [];
          let type = "image/jpeg";
          for await (const chunk of attachments.downloadAttachment({ name, offset: 0n })) {
            parts.push(chunk.data);
          }
          const file = await attachments.getAttachment({ name });
          type = file.file?.attachment?.contentType || type;
          const url = URL.createObjectURL(new Blob(parts as BlobPart[], { type }));
          made.push(url);
          setUrls([...made]);
        } catch {
          // A photo that cannot be read is left out.
        }
      }
    })();
    return () => made.forEach((u) => URL.revokeObjectURL(u));
  }, [owner, names.join()]);
  return (
    <div class="photos">
      {urls.map((u) => (
        <img key={u} src={u} alt={t("photos")} />
      ))}
    </div>
  );
}

