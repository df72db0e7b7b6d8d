//! Who hears of a loop step: a pure decision from the loop before and after it, so every change that needs someone's attention queues a notification in the step's own transaction.

use gridwhistle_domain::{AssignmentRole, AssignmentState, CaseState, DepartmentId, ReportState};

use crate::workflow::Loop;

/// What a notification tells its recipients; each has one stable text form, stored in the outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NoticeKind {
    /// A case was whistled (or reassigned) to the recipient's department.
    CaseAssigned,
    /// A deadline is near.
    Reminder,
    /// A deadline passed and the case climbed the ladder.
    Escalation,
    /// A supervision letter (督办函) arrived.
    SupervisionLetter,
    /// The lead department finished work on the recipient's report.
    ResultReady,
    /// The grid worker rejected the result: the lead works on (返工).
    CaseReopened,
    /// Nobody is left to lead the case: a supervisor decides.
    NeedsSupervisor,
    /// A department asked for more time: a supervisor decides.
    ExtensionRequested,
    /// A supervisor approved or refused the recipient department's request for more time.
    ExtensionDecided,
}

impl NoticeKind {
    pub const ALL: [NoticeKind; 9] = [
        NoticeKind::CaseAssigned,
        NoticeKind::Reminder,
        NoticeKind::Escalation,
        NoticeKind::SupervisionLetter,
        NoticeKind::ResultReady,
        NoticeKind::CaseReopened,
        NoticeKind::NeedsSupervisor,
        NoticeKind::ExtensionRequested,
        NoticeKind::ExtensionDecided,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            NoticeKind::CaseAssigned => "case_assigned",
            NoticeKind::Reminder => "reminder",
            NoticeKind::Escalation => "escalation",
            NoticeKind::SupervisionLetter => "supervision_letter",
            NoticeKind::ResultReady => "result_ready",
            NoticeKind::CaseReopened => "case_reopened",
            NoticeKind::NeedsSupervisor => "needs_supervisor",
            NoticeKind::ExtensionRequested => "extension_requested",
            NoticeKind::ExtensionDecided => "extension_decided",
        }
    }

    /// The kind whose text form is `text`.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// Whether a push of this kind must wake the phone (Android priority high, APNs priority 10) whatever the case's grade.
    pub const fn always_urgent(self) -> bool {
        matches!(
            self,
            NoticeKind::Escalation | NoticeKind::SupervisionLetter | NoticeKind::NeedsSupervisor
        )
    }

    /// The push's title and body: generic on purpose, since a push leaves our control; the app fetches the details over the authenticated API.
    pub const fn generic_text(self, chinese: bool) -> (&'static str, &'static str) {
        match (self, chinese) {
            (NoticeKind::CaseAssigned, true) => {
                ("新的吹哨案件", "有案件派给您的部门，请及时报到。")
            }
            (NoticeKind::CaseAssigned, false) => (
                "New case",
                "A case was sent to your department. Please report in.",
            ),
            (NoticeKind::Reminder, true) => {
                ("办理时限提醒", "有案件临近办理时限，请打开应用查看。")
            }
            (NoticeKind::Reminder, false) => (
                "Deadline reminder",
                "A case is nearing its time limit. Open the app for details.",
            ),
            (NoticeKind::Escalation, true) => {
                ("案件超时升级", "有案件已超过时限并升级，请打开应用查看。")
            }
            (NoticeKind::Escalation, false) => (
                "Case escalated",
                "A case passed its time limit and was escalated. Open the app for details.",
            ),
            (NoticeKind::SupervisionLetter, true) => ("督办函", "您的部门收到督办函，请按时回复。"),
            (NoticeKind::SupervisionLetter, false) => (
                "Supervision letter",
                "Your department received a supervision letter. Please reply in time.",
            ),
            (NoticeKind::ResultReady, true) => {
                ("办理结果待核实", "您上报的事项已办结，请核实并评价。")
            }
            (NoticeKind::ResultReady, false) => (
                "Result ready",
                "Your report was worked on. Please verify and rate the result.",
            ),
            (NoticeKind::CaseReopened, true) => {
                ("案件退回返工", "有案件的办理结果未通过核实，请继续办理。")
            }
            (NoticeKind::CaseReopened, false) => (
                "Case reopened",
                "A result was not accepted. Please continue working on the case.",
            ),
            (NoticeKind::NeedsSupervisor, true) => {
                ("案件待协调", "有案件无部门承办，请督办人员协调。")
            }
            (NoticeKind::NeedsSupervisor, false) => (
                "Case needs a decision",
                "No department leads a case. Please assign it.",
            ),
            (NoticeKind::ExtensionRequested, true) => {
                ("延期申请待审批", "有部门申请延长办理时限，请审批。")
            }
            (NoticeKind::ExtensionRequested, false) => (
                "Extension requested",
                "A department asked for more time on a case. Please decide.",
            ),
            (NoticeKind::ExtensionDecided, true) => (
                "延期申请已审批",
                "您部门的延期申请已有审批结果，请打开应用查看。",
            ),
            (NoticeKind::ExtensionDecided, false) => (
                "Extension decided",
                "Your department's request for more time was decided. Open the app for details.",
            ),
        }
    }
}

/// What a push of a notification says: decided here, from the notification's facts, so storage only reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushWords {
    /// Generic on purpose (see [`NoticeKind::generic_text`]).
    pub title: &'static str,
    pub body: &'static str,
    /// Wake the phone: grade A cases, and the kinds that always must.
    pub urgent: bool,
    /// One slot per subject and stage (or kind) on the phone: a repeat replaces, a different matter stacks.
    pub collapse_key: String,
}

/// The words of a push of `kind` about `subject` ("cases/{case}" or "reports/{report}"), for a deadline `stage` if any, on a case of grade A or not, to a device set to `locale` (Chinese unless it names another language).
pub fn push_words(
    kind: NoticeKind,
    subject: &str,
    stage: Option<&str>,
    grade_a: bool,
    locale: &str,
) -> PushWords {
    let (title, body) = kind.generic_text(speaks_chinese(locale));
    PushWords {
        title,
        body,
        urgent: grade_a || kind.always_urgent(),
        collapse_key: format!(
            "{}/{}",
            subject.rsplit('/').next().unwrap_or_default(),
            stage.unwrap_or(kind.as_str())
        ),
    }
}

/// Whether a device set to `locale` gets pushes in Chinese: unless its locale names another language.
pub fn speaks_chinese(locale: &str) -> bool {
    locale.is_empty() || locale.starts_with("zh")
}

/// Who a loop step's notification is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    /// The department's duty officers.
    DutyOfficers(DepartmentId),
    /// The district's supervisors.
    Supervisors,
    /// The grid worker who filed the report.
    Reporter,
}

/// One notification a step queues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub recipient: Recipient,
    pub kind: NoticeKind,
}

/// The notifications a step that took the loop from `before` to `after` queues.
///
/// - A department summoned by the step (whistled, rerouted after a return, named by a reassignment, summoned again after leaving) hears of the case.
/// - A case left without a lead hears of its supervisors.
/// - A result waiting for verification is the grid worker's to check.
/// - A rejected result goes back to the lead's duty officers.
pub fn on_step(before: &Loop, after: &Loop) -> Vec<Notice> {
    let mut notices = Vec::new();
    for a in &after.assignments {
        let newly_summoned = a.state == AssignmentState::Summoned
            && !before
                .assignments
                .iter()
                .any(|b| b.department == a.department && b.state.is_active());
        if newly_summoned {
            notices.push(Notice {
                recipient: Recipient::DutyOfficers(a.department.clone()),
                kind: NoticeKind::CaseAssigned,
            });
        }
    }
    if after.case == Some(CaseState::AwaitingSupervisor)
        && before.case != Some(CaseState::AwaitingSupervisor)
    {
        notices.push(Notice {
            recipient: Recipient::Supervisors,
            kind: NoticeKind::NeedsSupervisor,
        });
    }
    if after.report == ReportState::AwaitingVerification
        && before.report != ReportState::AwaitingVerification
    {
        notices.push(Notice {
            recipient: Recipient::Reporter,
            kind: NoticeKind::ResultReady,
        });
    }
    if after.rework_count > before.rework_count
        && let Some(lead) = after
            .assignments
            .iter()
            .find(|a| a.role == AssignmentRole::Lead && a.state.is_active())
    {
        notices.push(Notice {
            recipient: Recipient::DutyOfficers(lead.department.clone()),
            kind: NoticeKind::CaseReopened,
        });
    }
    notices
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;
    use crate::workflow::Step;

    fn dept(slug: &str) -> DepartmentId {
        DepartmentId::parse(slug).unwrap()
    }

    /// Applies `steps` in order and prints each one's notices.
    fn check(steps: &[Step], expect: Expect) {
        let mut state = Loop::new_report();
        let mut out = String::new();
        for step in steps {
            let before = state.clone();
            state.apply(step).unwrap();
            let notices = on_step(&before, &state);
            let line = notices
                .iter()
                .map(|n| format!("{:?} {}", n.recipient, n.kind.as_str()))
                .collect::<Vec<_>>()
                .join(", ");
            out.push_str(&format!("{step:?}: [{line}]\n"));
        }
        expect.assert_eq(&out);
    }

    #[test]
    fn a_whistle_tells_every_summoned_department_and_steps_after_it_tell_nobody_new() {
        check(
            &[
                Step::Whistle {
                    summoned: vec![
                        (dept("zhujian"), AssignmentRole::Lead),
                        (dept("gongan"), AssignmentRole::Assist),
                    ],
                },
                Step::ReportIn(dept("zhujian")),
                Step::RecordContact(dept("zhujian")),
                Step::Complete(dept("zhujian")),
                Step::Reject,
                Step::Complete(dept("zhujian")),
                Step::Accept,
            ],
            expect![[r#"
                Whistle { summoned: [(DepartmentId("zhujian"), Lead), (DepartmentId("gongan"), Assist)] }: [DutyOfficers(DepartmentId("zhujian")) case_assigned, DutyOfficers(DepartmentId("gongan")) case_assigned]
                ReportIn(DepartmentId("zhujian")): []
                RecordContact(DepartmentId("zhujian")): []
                Complete(DepartmentId("zhujian")): [Reporter result_ready]
                Reject: [DutyOfficers(DepartmentId("zhujian")) case_reopened]
                Complete(DepartmentId("zhujian")): [Reporter result_ready]
                Accept: []
            "#]],
        );
    }

    #[test]
    fn a_return_tells_the_department_rerouted_to_and_a_reassignment_the_departments_it_names() {
        check(
            &[
                Step::Whistle {
                    summoned: vec![(dept("zhujian"), AssignmentRole::Lead)],
                },
                Step::Return {
                    department: dept("zhujian"),
                    rerouted: vec![(dept("jiedao"), AssignmentRole::Lead)],
                },
                Step::Reassign {
                    lead: dept("jiedao"),
                    assists: vec![dept("zhujian"), dept("renshe")],
                },
            ],
            expect![[r#"
                Whistle { summoned: [(DepartmentId("zhujian"), Lead)] }: [DutyOfficers(DepartmentId("zhujian")) case_assigned]
                Return { department: DepartmentId("zhujian"), rerouted: [(DepartmentId("jiedao"), Lead)] }: [DutyOfficers(DepartmentId("jiedao")) case_assigned]
                Reassign { lead: DepartmentId("jiedao"), assists: [DepartmentId("zhujian"), DepartmentId("renshe")] }: [DutyOfficers(DepartmentId("zhujian")) case_assigned, DutyOfficers(DepartmentId("renshe")) case_assigned]
            "#]],
        );
    }

    #[test]
    fn a_case_nobody_can_lead_goes_to_the_supervisors() {
        check(
            &[
                Step::Whistle {
                    summoned: vec![(dept("zhujian"), AssignmentRole::Lead)],
                },
                Step::Return {
                    department: dept("zhujian"),
                    rerouted: vec![],
                },
            ],
            expect![[r#"
                Whistle { summoned: [(DepartmentId("zhujian"), Lead)] }: [DutyOfficers(DepartmentId("zhujian")) case_assigned]
                Return { department: DepartmentId("zhujian"), rerouted: [] }: [Supervisors needs_supervisor]
            "#]],
        );
    }

    #[test]
    fn every_kind_has_a_text_form_that_parses_back() {
        for kind in NoticeKind::ALL {
            assert_eq!(NoticeKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(NoticeKind::parse("spam"), None);
    }

    #[test]
    fn a_push_speaks_the_devices_language_and_collapses_per_subject_and_stage() {
        let words = push_words(
            NoticeKind::Reminder,
            "cases/C-1",
            Some("finish"),
            false,
            "en-GB",
        );
        assert_eq!(words.title, "Deadline reminder");
        assert_eq!(words.collapse_key, "C-1/finish");
        assert!(!words.urgent);
        let words = push_words(NoticeKind::CaseAssigned, "cases/C-1", None, true, "");
        assert_eq!(words.title, "新的吹哨案件");
        assert_eq!(words.collapse_key, "C-1/case_assigned");
        assert!(words.urgent, "a grade A case wakes the phone");
        assert!(push_words(NoticeKind::Escalation, "cases/C-1", None, false, "zh-CN").urgent);
    }
}
