//! Joint meetings (联席会议): a month's meeting of the key departments whose agenda is built from the ledger and the case queue when it is called (red entries, entries with overdue steps, entries whose plans cross departments, cases every department returned), and whose decision on each item sets a lead and assisting departments, like a reassignment: an entry gets the lead as its responsible unit and a new plan, a case is reassigned.

use gridwhistle_domain::ledger::{AgendaReason, LedgerState, StepState};
use gridwhistle_domain::{AccessError, Action, Actor, CaseState, DepartmentId, MeetingId, UserId};
use tracing::instrument;

use super::plan::{Change, StepPlan};
use super::{LedgerError, LedgerService, replayed};
use crate::closed_loop::Guard;
use crate::model::{
    AgendaSubject, CaseQuery, LedgerEntryRecord, LedgerFilter, LedgerPosition, LedgerReader,
    MeetingDecision, MeetingItemRecord, MeetingRecord, QueuePosition,
};
use crate::stats::Month;

/// Rows read per page while the agenda is built.
const PAGE: u64 = 500;

/// A meeting as the supervisor calls it.
#[derive(Debug, Clone)]
pub struct NewMeeting {
    pub id: MeetingId,
    pub month: Month,
    pub title: String,
    pub request_hash: String,
}

/// A decision as the meeting takes it.
#[derive(Debug, Clone)]
pub struct Decision {
    pub lead: DepartmentId,
    pub assists: Vec<DepartmentId>,
    pub text: String,
    /// An entry's new plan (its open steps from now on); none for a case.
    pub steps: Vec<StepPlan>,
}

/// Why `entry` belongs on the agenda at `now`, with the detail; nothing when it does not.
fn reasons(
    entry: &LedgerEntryRecord,
    now: gridwhistle_domain::Timestamp,
) -> (Vec<AgendaReason>, String) {
    let mut reasons = Vec::new();
    let mut detail = Vec::new();
    if entry.colour() == gridwhistle_domain::ledger::Colour::Red {
        reasons.push(AgendaReason::Red);
        detail.push("red (grade A)".to_owned());
    }
    let overdue: Vec<String> = entry
        .open_steps()
        .filter(|s| s.due_at < now)
        .map(|s| format!("step {} ({})", s.number, s.department))
        .collect();
    if !overdue.is_empty() {
        reasons.push(AgendaReason::OverdueSteps);
        detail.push(format!("overdue: {}", overdue.join(", ")));
    }
    let mut departments: Vec<&DepartmentId> = Vec::new();
    for step in entry.steps.iter().filter(|s| s.state == StepState::Open) {
        if !departments.contains(&&step.department) {
            departments.push(&step.department);
        }
    }
    if departments.len() > 1 {
        reasons.push(AgendaReason::CrossDepartment);
        let names: Vec<&str> = departments.iter().map(|d| d.as_str()).collect();
        detail.push(format!("plan crosses {}", names.join(", ")));
    }
    (reasons, detail.join("; "))
}

impl LedgerService {
    /// Every entry not closed that belongs on an agenda at `now`, most urgent first.
    async fn agenda_entries(
        &self,
        now: gridwhistle_domain::Timestamp,
    ) -> Result<Vec<MeetingItemRecord>, LedgerError> {
        let mut items = Vec::new();
        for state in [LedgerState::Open, LedgerState::CloseRequested] {
            let filter = LedgerFilter {
                state: Some(state),
                ..LedgerFilter::new(LedgerReader::All)
            };
            let mut after: Option<LedgerPosition> = None;
            loop {
                let page = self
                    .store
                    .ledger()
                    .list(&filter, after.as_ref(), PAGE)
                    .await?;
                for entry in &page {
                    let (reasons, detail) = reasons(entry, now);
                    if !reasons.is_empty() {
                        items.push(MeetingItemRecord {
                            number: 0,
                            subject: AgendaSubject::Entry(entry.id),
                            reasons,
                            detail,
                            decision: None,
                        });
                    }
                }
                let Some(last) = page.last().filter(|_| page.len() as u64 == PAGE) else {
                    break;
                };
                after = Some(LedgerPosition {
                    grade: last.grade,
                    next_due_ms: last.next_due().map_or(i64::MAX, |t| t.as_unix_millis()),
                    id: last.id,
                });
            }
        }
        Ok(items)
    }

    /// Every case whose summoned departments all returned it, waiting for a supervisor.
    async fn agenda_cases(&self) -> Result<Vec<MeetingItemRecord>, LedgerError> {
        let query = CaseQuery {
            states: vec![CaseState::AwaitingSupervisor],
            ..CaseQuery::default()
        };
        let mut items = Vec::new();
        let mut after: Option<QueuePosition> = None;
        loop {
            let page = self.store.reports().queue(&query, after, PAGE).await?;
            for (_, report) in &page {
                let Some(case) = &report.case else { continue };
                let returned: Vec<&str> = report
                    .assignments
                    .iter()
                    .map(|a| a.department.as_str())
                    .collect();
                items.push(MeetingItemRecord {
                    number: 0,
                    subject: AgendaSubject::Case {
                        report: report.id,
                        case: case.id,
                    },
                    reasons: vec![AgendaReason::ReturnedByAll],
                    detail: format!("returned by {}", returned.join(", ")),
                    decision: None,
                });
            }
            let Some((key, last)) = page.last().filter(|_| page.len() as u64 == PAGE) else {
                break;
            };
            after = Some(QueuePosition {
                key: *key,
                report: last.id,
            });
        }
        Ok(items)
    }

    /// Calls a month's joint meeting (supervisors), its agenda built now; idempotent on its id.
    #[instrument(skip_all, fields(meeting = %new.id))]
    pub async fn call_meeting(
        &self,
        actor: &Actor,
        new: NewMeeting,
    ) -> Result<MeetingRecord, LedgerError> {
        actor
            .authorize(Action::ManageLedger)
            .map_err(|e| LedgerError::Access(e, "meeting"))?;
        if let Some(existing) = self.store.meetings().get(&new.id).await? {
            return replayed(existing, |s| &s.request_hash, &new.request_hash);
        }
        let now = self.now();
        let mut items = self.agenda_entries(now).await?;
        items.extend(self.agenda_cases().await?);
        for (item, number) in items.iter_mut().zip(1..) {
            item.number = number;
        }
        let hash = new.request_hash.clone();
        let stored = self
            .store
            .meetings()
            .create(MeetingRecord {
                id: new.id,
                month: new.month.to_string(),
                title: new.title,
                created_by: actor.user_id,
                created_at: now,
                request_hash: new.request_hash,
                items,
            })
            .await?;
        replayed(stored, |s| &s.request_hash, &hash)
    }

    /// One meeting with its agenda (supervisors and district leaders).
    #[instrument(skip_all, fields(meeting = %id))]
    pub async fn meeting(
        &self,
        actor: &Actor,
        id: &MeetingId,
    ) -> Result<MeetingRecord, LedgerError> {
        actor
            .authorize(Action::ReadMeetings)
            .map_err(|e| LedgerError::Access(e, "meeting"))?;
        self.store
            .meetings()
            .get(id)
            .await?
            .ok_or(LedgerError::Access(AccessError::Hidden, "meeting"))
    }

    /// The meetings of a month (supervisors and district leaders).
    #[instrument(skip_all)]
    pub async fn meetings(
        &self,
        actor: &Actor,
        month: Month,
    ) -> Result<Vec<MeetingRecord>, LedgerError> {
        actor
            .authorize(Action::ReadMeetings)
            .map_err(|e| LedgerError::Access(e, "meeting"))?;
        Ok(self.store.meetings().of_month(&month.to_string()).await?)
    }

    /// Takes the meeting's decision on item `number` (supervisors): an entry gets the lead as its responsible unit and `steps` as its plan; a case is reassigned to the lead and the assisting departments.
    #[instrument(skip_all, fields(meeting = %id, number))]
    pub async fn decide_item(
        &self,
        actor: &Actor,
        id: &MeetingId,
        number: u32,
        decision: Decision,
    ) -> Result<MeetingRecord, LedgerError> {
        actor
            .authorize(Action::ManageLedger)
            .map_err(|e| LedgerError::Access(e, "meeting"))?;
        let meeting = self.meeting(actor, id).await?;
        let Some(item) = meeting.items.iter().find(|i| i.number == number) else {
            return Err(LedgerError::field("number", "no such item on the agenda"));
        };
        if item.decision.is_some() {
            return Err(LedgerError::Precondition(format!(
                "item {number} was decided already"
            )));
        }
        self.check_department("lead_department", &decision.lead)
            .await?;
        for (i, d) in decision.assists.iter().enumerate() {
            self.check_department(&format!("assisting_departments[{i}]"), d)
                .await?;
        }
        let reason = format!("联席会议 {} 第{number}项: {}", meeting.month, decision.text);
        match &item.subject {
            AgendaSubject::Entry(entry) => {
                let change = Change::Assign {
                    unit: decision.lead.clone(),
                    steps: decision.steps.clone(),
                    reason,
                };
                self.change(actor, entry, None, change).await?;
            }
            AgendaSubject::Case { case, .. } => {
                self.loop_service
                    .reassign(
                        actor,
                        *case,
                        decision.lead.clone(),
                        decision.assists.clone(),
                        reason,
                        Guard::default(),
                    )
                    .await?;
            }
        }
        let recorded = MeetingDecision {
            lead: decision.lead,
            assists: decision.assists,
            text: decision.text,
            decided_by: UserId::clone(&actor.user_id),
            decided_at: self.now(),
        };
        if !self.store.meetings().decide(id, number, recorded).await? {
            return Err(LedgerError::Precondition(format!(
                "item {number} was decided already"
            )));
        }
        self.meeting(actor, id).await
    }
}

/// A meeting's minutes as a table: each item with its reasons and the decision; ids and departments only, nothing personal.
pub fn minutes_table(
    meeting: &MeetingRecord,
    zone: &gridwhistle_dispatcher::calendar::Zone,
) -> crate::stats::export::Table {
    use crate::stats::export::{Cell, Table};
    let text = |s: String| {
        if s.is_empty() {
            Cell::Empty
        } else {
            Cell::Text(s)
        }
    };
    let rows = meeting
        .items
        .iter()
        .map(|item| {
            let (kind, subject) = match &item.subject {
                AgendaSubject::Entry(e) => ("台账", format!("ledgerEntries/{e}")),
                AgendaSubject::Case { case, .. } => ("案件", format!("cases/{case}")),
            };
            let reasons: Vec<&str> = item
                .reasons
                .iter()
                .map(|r| match r {
                    AgendaReason::Red => "红色",
                    AgendaReason::OverdueSteps => "步骤逾期",
                    AgendaReason::CrossDepartment => "跨部门",
                    AgendaReason::ReturnedByAll => "各部门均退单",
                })
                .collect();
            let d = item.decision.as_ref();
            vec![
                Cell::Count(i64::from(item.number)),
                Cell::Text(kind.to_owned()),
                Cell::Text(subject),
                Cell::Text(reasons.join("、")),
                text(item.detail.clone()),
                text(d.map(|d| d.lead.to_string()).unwrap_or_default()),
                text(
                    d.map(|d| {
                        d.assists
                            .iter()
                            .map(|a| a.as_str())
                            .collect::<Vec<_>>()
                            .join("、")
                    })
                    .unwrap_or_default(),
                ),
                text(d.map(|d| d.text.clone()).unwrap_or_default()),
                text(d.map(|d| zone.format(d.decided_at)).unwrap_or_default()),
            ]
        })
        .collect();
    Table {
        sheet: "会议纪要",
        headers: [
            "议题",
            "类型",
            "对象",
            "上会原因",
            "说明",
            "牵头单位",
            "配合单位",
            "决定",
            "决定时间",
        ]
        .map(String::from)
        .to_vec(),
        rows,
    }
}
