// How the console writes times, countdowns and the API's enums.

import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { RiskGrade } from "./gen/gridwhistle/v1/common_pb";
import type { Ratio } from "./gen/gridwhistle/v1/stats_pb";
import {
  AssignmentState,
  CaseState,
  DeadlineStage,
  DeadlineState,
  CaseEventKind,
  type Case,
} from "./gen/gridwhistle/v1/case_pb";
import { LedgerColour, LedgerEventKind, LedgerState, LedgerStepState } from "./gen/gridwhistle/v1/ledger_pb";
import { currentLang, t, type Key } from "./i18n";

/** "2d 3h", "3h 05m", "4m 09s": the time between two instants, to the unit that matters. */
export function span(ms: number): string {
  const total = Math.floor(Math.abs(ms) / 1000);
  const days = Math.floor(total / 86_400);
  const hours = Math.floor((total % 86_400) / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  const two = (n: number) => String(n).padStart(2, "0");
  if (days > 0) return `${days}d ${hours}h`;
  if (hours > 0) return `${hours}h ${two(minutes)}m`;
  return `${minutes}m ${two(seconds)}s`;
}

/** The countdown to `due` at `now`: negative when overdue. */
export function countdown(due: Date, now: Date): { overdue: boolean; text: string } {
  const left = due.getTime() - now.getTime();
  return { overdue: left < 0, text: span(left) };
}

/** A countdown in words: "3h 05m left", or "overdue by 4m 09s". */
export function countdownWords(left: { overdue: boolean; text: string }): string {
  return left.overdue ? `${t("overdueBy")} ${left.text}` : `${left.text} ${t("left")}`;
}

export function date(ts: Timestamp | undefined): Date | undefined {
  return ts ? timestampDate(ts) : undefined;
}

export function when(ts: Timestamp | undefined): string {
  const d = date(ts);
  if (!d) return "—";
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** The nearest due time still unmet (pending, or breached and still owed) of the case for `department` (any department when empty). */
export function nearestDue(c: Case, department = ""): Date | undefined {
  let best: Date | undefined;
  for (const a of c.assignments) {
    if (department && a.department !== department) continue;
    for (const d of a.deadlines) {
      const owed = d.state === DeadlineState.PENDING || d.state === DeadlineState.BREACHED;
      if (!owed || !d.dueTime) continue;
      const due = timestampDate(d.dueTime);
      if (!best || due < best) best = due;
    }
  }
  return best;
}

export function gradeClass(grade: RiskGrade): string {
  switch (grade) {
    case RiskGrade.A:
      return "grade-a";
    case RiskGrade.B:
      return "grade-b";
    case RiskGrade.C:
      return "grade-c";
    default:
      return "grade-none";
  }
}

/** The word for `value` from `words`, or `fallback` for a value it has none for (unspecified). */
function label<E extends number>(words: Partial<Record<E, Key>>, value: E, fallback = "—"): string {
  const key = words[value];
  return key ? t(key) : fallback;
}

const GRADES: Partial<Record<RiskGrade, Key>> = {
  [RiskGrade.A]: "gradeA",
  [RiskGrade.B]: "gradeB",
  [RiskGrade.C]: "gradeC",
};

const CASE_STATES: Partial<Record<CaseState, Key>> = {
  [CaseState.OPEN]: "caseOpen",
  [CaseState.AWAITING_VERIFICATION]: "caseAwaitingVerification",
  [CaseState.CLOSED]: "caseClosed",
  [CaseState.AWAITING_SUPERVISOR]: "caseAwaitingSupervisor",
};

const ASSIGNMENT_STATES: Partial<Record<AssignmentState, Key>> = {
  [AssignmentState.SUMMONED]: "summoned",
  [AssignmentState.REPORTED_IN]: "reportedIn",
  [AssignmentState.CONTACTED]: "contacted",
  [AssignmentState.COMPLETED]: "completed",
  [AssignmentState.RETURNED]: "returned",
  [AssignmentState.WITHDRAWN]: "withdrawn",
};

const STAGES: Partial<Record<DeadlineStage, Key>> = {
  [DeadlineStage.REPORT_IN]: "stageReportIn",
  [DeadlineStage.CONTACT]: "stageContact",
  [DeadlineStage.FINISH]: "stageFinish",
  [DeadlineStage.LETTER_REPLY]: "stageLetterReply",
  [DeadlineStage.LEDGER_STEP]: "stageLedgerStep",
};

const DEADLINE_STATES: Partial<Record<DeadlineState, Key>> = {
  [DeadlineState.PENDING]: "pending",
  [DeadlineState.SATISFIED]: "satisfied",
  [DeadlineState.BREACHED]: "breached",
  [DeadlineState.CANCELLED]: "cancelled",
};

export const gradeLabel = (grade: RiskGrade): string => label(GRADES, grade, t("none"));
export const caseStateLabel = (state: CaseState): string => label(CASE_STATES, state);
export const assignmentStateLabel = (state: AssignmentState): string => label(ASSIGNMENT_STATES, state);
export const stageLabel = (stage: DeadlineStage): string => label(STAGES, stage);
export const deadlineStateLabel = (state: DeadlineState): string => label(DEADLINE_STATES, state);

/** A ratio as a percentage ("87.5%"), or "—" when it has no denominator. */
export function percent(r: Ratio | undefined): string {
  if (!r || r.denominator === 0n) return "—";
  return `${(r.rate * 100).toFixed(1)}%`;
}

const EVENTS: Partial<Record<CaseEventKind, [string, string]>> = {
  [CaseEventKind.REPORTED]: ["上报", "reported"],
  [CaseEventKind.RESOLVED_ON_SITE]: ["就地化解", "settled on site"],
  [CaseEventKind.WHISTLED]: ["吹哨", "whistled"],
  [CaseEventKind.REPORTED_IN]: ["报到", "reported in"],
  [CaseEventKind.CONTACTED]: ["联系当事人", "contacted the parties"],
  [CaseEventKind.PROGRESS]: ["进展", "progress"],
  [CaseEventKind.RETURNED]: ["退单", "returned"],
  [CaseEventKind.REROUTED]: ["重新派单", "rerouted"],
  [CaseEventKind.EXTENSION_REQUESTED]: ["申请延期", "extension requested"],
  [CaseEventKind.EXTENSION_DECIDED]: ["延期审批", "extension decided"],
  [CaseEventKind.COMPLETED]: ["办结", "completed"],
  [CaseEventKind.VERIFIED]: ["核查通过", "accepted"],
  [CaseEventKind.REJECTED]: ["核查退回", "rejected"],
  [CaseEventKind.REMINDER]: ["提醒", "reminder"],
  [CaseEventKind.ESCALATED]: ["升级", "escalated"],
  [CaseEventKind.REASSIGNED]: ["改派", "reassigned"],
  [CaseEventKind.SUPERVISION_LETTER]: ["督办函", "supervision letter"],
  [CaseEventKind.SUPERVISION_LETTER_ANSWERED]: ["督办回复", "letter answered"],
  [CaseEventKind.DEADLINE_RECOUNTED]: ["时限重算", "deadline recounted"],
  [CaseEventKind.REGRADED]: ["调整等级", "regraded"],
};

const LEDGER_EVENTS: Partial<Record<LedgerEventKind, [string, string]>> = {
  [LedgerEventKind.OPENED]: ["立案", "opened"],
  [LedgerEventKind.PLAN_REVISED]: ["修订方案", "plan revised"],
  [LedgerEventKind.STEP_COMPLETED]: ["步骤完成", "step done"],
  [LedgerEventKind.REGRADED]: ["调整等级", "regraded"],
  [LedgerEventKind.LEADER_NAMED]: ["确定包案领导", "leader named"],
  [LedgerEventKind.CLOSE_REQUESTED]: ["申请销号", "close-off requested"],
  [LedgerEventKind.CLOSE_APPROVED]: ["销号", "closed off"],
  [LedgerEventKind.CLOSE_REFUSED]: ["不予销号", "close-off refused"],
  [LedgerEventKind.REOPENED]: ["重新启动", "reopened"],
  [LedgerEventKind.REASSIGNED]: ["更换责任单位", "reassigned"],
  [LedgerEventKind.REMINDER]: ["提醒", "reminder"],
  [LedgerEventKind.ESCALATED]: ["升级", "escalated"],
};

const LEDGER_STATES: Partial<Record<LedgerState, [string, string]>> = {
  [LedgerState.OPEN]: ["化解中", "open"],
  [LedgerState.CLOSE_REQUESTED]: ["待销号", "close-off requested"],
  [LedgerState.CLOSED]: ["已销号", "closed"],
};

const STEP_STATES: Partial<Record<LedgerStepState, [string, string]>> = {
  [LedgerStepState.OPEN]: ["进行中", "open"],
  [LedgerStepState.DONE]: ["已完成", "done"],
  [LedgerStepState.SUPERSEDED]: ["已替换", "superseded"],
};

/** The word in the console's language from a pair of Chinese and English, "—" for a value without one. */
function pairLabel<E extends number>(pairs: Partial<Record<E, [string, string]>>, value: E): string {
  const pair = pairs[value];
  return pair ? pair[currentLang() === "zh" ? 0 : 1] : "—";
}

export const eventLabel = (kind: CaseEventKind): string => pairLabel(EVENTS, kind);
export const ledgerEventLabel = (kind: LedgerEventKind): string => pairLabel(LEDGER_EVENTS, kind);
export const ledgerStateLabel = (state: LedgerState): string => pairLabel(LEDGER_STATES, state);
export const stepStateLabel = (state: LedgerStepState): string => pairLabel(STEP_STATES, state);

/** A ledger entry's colour as the class and word its grade uses: red, yellow, blue. */
export function colourClass(colour: LedgerColour): string {
  return gradeClass(COLOUR_GRADES[colour] ?? RiskGrade.UNSPECIFIED);
}

export function colourLabel(colour: LedgerColour): string {
  return label(COLOURS, colour);
}

const COLOUR_GRADES: Partial<Record<LedgerColour, RiskGrade>> = {
  [LedgerColour.RED]: RiskGrade.A,
  [LedgerColour.YELLOW]: RiskGrade.B,
  [LedgerColour.BLUE]: RiskGrade.C,
};

const COLOURS: Partial<Record<LedgerColour, Key>> = {
  [LedgerColour.RED]: "colourRed",
  [LedgerColour.YELLOW]: "colourYellow",
  [LedgerColour.BLUE]: "colourBlue",
};

/** The month `at` falls in, in the district's time zone (China Standard Time, UTC+8, no daylight saving): "2026-12". */
export function districtMonth(at: Date): string {
  const shifted = new Date(at.getTime() + 8 * 3_600_000);
  return `${shifted.getUTCFullYear()}-${String(shifted.getUTCMonth() + 1).padStart(2, "0")}`;
}
