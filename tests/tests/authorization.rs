//! Authorisation per object as a table: every RPC of `ReportService`, `CaseService`, `DirectoryService`, `AttachmentService`, `SupervisionService`, `LedgerService` and `AuditService` × every role × {the caller's own object, another unit's object, a missing id}.
//!
//! Another unit's object and a missing id must get the same answer, so existence cannot be probed; the table must name every RPC the protos declare.

use std::collections::BTreeSet;
use std::fmt;

use gridwhistle_dispatcher::Clock as _;
use gridwhistle_proto::v1;
use gridwhistle_tests::district::{District, new_report_id, photo, point_in_grid, report_at};
use prost::Message as _;
use tonic::Code;

/// What a call's status says about authorisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    /// Past authorisation: success, or a refusal about the object's state.
    Allowed,
    /// NOT_FOUND: missing or not the caller's.
    Hidden,
    /// PERMISSION_DENIED: the role may never do this.
    Forbidden,
    /// UNIMPLEMENTED: the RPC belongs to a later issue.
    Pending,
}

impl fmt::Display for Seen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

fn seen(code: Code) -> Seen {
    match code {
        Code::NotFound => Seen::Hidden,
        Code::PermissionDenied => Seen::Forbidden,
        Code::Unimplemented => Seen::Pending,
        Code::Unauthenticated | Code::InvalidArgument | Code::Internal | Code::Unavailable => {
            panic!("the table's requests must be well-formed and authenticated, got {code:?}")
        }
        _ => Seen::Allowed,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Own,
    Other,
    Missing,
}

const ROLES: [&str; 6] = [
    "grid_worker",
    "duty_officer",
    "department_head",
    "supervisor",
    "admin",
    "district_leader",
];

use Seen::{Allowed as A, Forbidden as F, Hidden as H};

/// Expected answers per role, in the order of [`ROLES`], each as (own, other, missing).
type Row = [(Seen, Seen, Seen); 6];

const FORBIDDEN: (Seen, Seen, Seen) = (F, F, F);
const ALLOWED: (Seen, Seen, Seen) = (A, A, A);
const OWN_ONLY: (Seen, Seen, Seen) = (A, H, H);

fn table() -> Vec<(&'static str, Row)> {
    let report_of_author: Row = [
        OWN_ONLY, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN,
    ];
    let grid_workers: Row = [
        ALLOWED, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN,
    ];
    let departments: Row = [FORBIDDEN, ALLOWED, ALLOWED, FORBIDDEN, FORBIDDEN, FORBIDDEN];
    let case_of_department: Row = [
        FORBIDDEN, OWN_ONLY, OWN_ONLY, FORBIDDEN, FORBIDDEN, FORBIDDEN,
    ];
    let uploaders: Row = [ALLOWED, ALLOWED, ALLOWED, FORBIDDEN, FORBIDDEN, FORBIDDEN];
    let upload_of_owner: Row = [
        OWN_ONLY, OWN_ONLY, OWN_ONLY, FORBIDDEN, FORBIDDEN, FORBIDDEN,
    ];
    // The report's author, the summoned departments and every supervisor; admins never.
    let supervisors: Row = [
        FORBIDDEN, FORBIDDEN, FORBIDDEN, ALLOWED, FORBIDDEN, FORBIDDEN,
    ];
    let supervisor_on_any: Row = [
        FORBIDDEN,
        FORBIDDEN,
        FORBIDDEN,
        (A, A, H),
        FORBIDDEN,
        FORBIDDEN,
    ];
    // Lists scoped by the caller: a department's own, a supervisor's all.
    let departments_and_supervisors: Row =
        [FORBIDDEN, ALLOWED, ALLOWED, ALLOWED, FORBIDDEN, FORBIDDEN];
    let attachment_of_case: Row = [
        OWN_ONLY,
        OWN_ONLY,
        OWN_ONLY,
        (A, A, H),
        FORBIDDEN,
        FORBIDDEN,
    ];
    let figures_of_department: Row = [
        FORBIDDEN,
        OWN_ONLY,
        OWN_ONLY,
        (A, A, H),
        (A, A, H),
        (A, A, H),
    ];
    let ledger_readers: Row = [ALLOWED, ALLOWED, ALLOWED, ALLOWED, FORBIDDEN, ALLOWED];
    let ledger_steering: Row = [
        FORBIDDEN,
        FORBIDDEN,
        FORBIDDEN,
        (A, A, H),
        FORBIDDEN,
        OWN_ONLY,
    ];
    let ledger_unit: Row = [
        FORBIDDEN, OWN_ONLY, OWN_ONLY, FORBIDDEN, FORBIDDEN, FORBIDDEN,
    ];
    let ledger_supervisors: Row = [
        FORBIDDEN,
        FORBIDDEN,
        FORBIDDEN,
        (A, A, H),
        FORBIDDEN,
        FORBIDDEN,
    ];
    let meeting_readers: Row = [
        FORBIDDEN,
        FORBIDDEN,
        FORBIDDEN,
        (A, A, H),
        FORBIDDEN,
        (A, A, H),
    ];
    let rankings: Row = [FORBIDDEN, ALLOWED, ALLOWED, ALLOWED, ALLOWED, ALLOWED];
    vec![
        ("ReportService.CreateReport", grid_workers),
        ("ReportService.GetReport", report_of_author),
        ("ReportService.ListMyReports", grid_workers),
        ("ReportService.UploadAttachment", uploaders),
        ("ReportService.UploadAttachmentChunk", uploaders),
        ("ReportService.QueryUpload", upload_of_owner),
        ("ReportService.PreviewRouting", [ALLOWED; 6]),
        ("ReportService.ResolveOnSite", report_of_author),
        ("ReportService.Whistle", report_of_author),
        ("ReportService.VerifyResolution", report_of_author),
        ("ReportService.WatchMyReports", grid_workers),
        ("CaseService.ListInbox", departments),
        (
            "CaseService.ListCases",
            [FORBIDDEN, ALLOWED, ALLOWED, ALLOWED, FORBIDDEN, FORBIDDEN],
        ),
        ("CaseService.WatchInbox", departments),
        (
            "CaseService.GetCase",
            // A supervisor watches every case: nothing is hidden from them, and a missing id is still missing.
            [
                FORBIDDEN,
                OWN_ONLY,
                OWN_ONLY,
                (A, A, H),
                FORBIDDEN,
                FORBIDDEN,
            ],
        ),
        ("CaseService.ReportIn", case_of_department),
        ("CaseService.RecordContact", case_of_department),
        ("CaseService.PostProgress", case_of_department),
        ("CaseService.ReturnCase", case_of_department),
        ("CaseService.RequestExtension", case_of_department),
        ("CaseService.CompleteCase", case_of_department),
        (
            "CaseService.AcknowledgeSupervisionLetter",
            case_of_department,
        ),
        ("DirectoryService.ListCategories", [ALLOWED; 6]),
        ("DirectoryService.ListDirectoryDepartments", [ALLOWED; 6]),
        // User cards are no one's secret: every role reads every card, and a missing user is still missing.
        ("DirectoryService.BatchGetUserCards", [(A, A, H); 6]),
        ("DirectoryService.GetMyArea", [ALLOWED; 6]),
        ("AttachmentService.GetAttachment", attachment_of_case),
        ("AttachmentService.DownloadAttachment", attachment_of_case),
        ("SupervisionService.ListOverdue", supervisors),
        ("SupervisionService.WatchEscalations", supervisors),
        ("SupervisionService.DecideExtension", supervisor_on_any),
        // A letter names its cases as arguments: a missing one is a field violation, so the row aims at real cases only.
        ("SupervisionService.IssueSupervisionLetter", supervisors),
        // A department's own figures: its staff, supervisors and admins; another department's look missing.
        (
            "SupervisionService.GetDepartmentStats",
            figures_of_department,
        ),
        (
            "SupervisionService.BreakDownDepartmentStats",
            figures_of_department,
        ),
        (
            "SupervisionService.ListDepartmentTrend",
            figures_of_department,
        ),
        ("SupervisionService.ListShortfalls", figures_of_department),
        // Aimed at a shortfall list, the one view of an export that belongs to a department.
        ("SupervisionService.ExportStats", figures_of_department),
        // The district's rankings: every department's staff sees them, grid workers do not.
        ("SupervisionService.ListDepartmentStats", rankings),
        ("SupervisionService.ListAreaStats", rankings),
        ("SupervisionService.ListDeadLetters", supervisors),
        (
            "SupervisionService.ListExtensions",
            departments_and_supervisors,
        ),
        (
            "SupervisionService.ListSupervisionLetters",
            departments_and_supervisors,
        ),
        (
            "SupervisionService.GetSupervisionLetter",
            [
                FORBIDDEN,
                OWN_ONLY,
                OWN_ONLY,
                (A, A, H),
                FORBIDDEN,
                FORBIDDEN,
            ],
        ),
        // The ledger: an entry is read by its unit's and its plan's departments, its leader, the reporter of its case and supervisors.
        (
            "LedgerService.OpenLedgerEntry",
            [
                FORBIDDEN, FORBIDDEN, FORBIDDEN, ALLOWED, FORBIDDEN, FORBIDDEN,
            ],
        ),
        (
            "LedgerService.GetLedgerEntry",
            [OWN_ONLY, OWN_ONLY, OWN_ONLY, (A, A, H), FORBIDDEN, OWN_ONLY],
        ),
        ("LedgerService.ListLedgerEntries", ledger_readers),
        ("LedgerService.CountLedgerEntries", ledger_readers),
        ("LedgerService.ReviseLedgerPlan", ledger_steering),
        ("LedgerService.RegradeLedgerEntry", ledger_steering),
        ("LedgerService.NameLedgerLeader", ledger_steering),
        ("LedgerService.CompleteLedgerStep", ledger_unit),
        ("LedgerService.RequestLedgerCloseOff", ledger_unit),
        ("LedgerService.DecideLedgerCloseOff", ledger_supervisors),
        ("LedgerService.ReopenLedgerEntry", ledger_supervisors),
        // Interviews are recorded by supervisors; a department reads its own, supervisors, admins and leaders every department's.
        (
            "LedgerService.RecordInterview",
            [
                FORBIDDEN, FORBIDDEN, FORBIDDEN, ALLOWED, FORBIDDEN, FORBIDDEN,
            ],
        ),
        (
            "LedgerService.ListInterviews",
            [FORBIDDEN, OWN_ONLY, OWN_ONLY, ALLOWED, ALLOWED, ALLOWED],
        ),
        // Joint meetings: supervisors call and decide them, supervisors and leaders read them.
        (
            "LedgerService.CallJointMeeting",
            [
                FORBIDDEN, FORBIDDEN, FORBIDDEN, ALLOWED, FORBIDDEN, FORBIDDEN,
            ],
        ),
        ("LedgerService.GetJointMeeting", meeting_readers),
        (
            "LedgerService.ListJointMeetings",
            [FORBIDDEN, FORBIDDEN, FORBIDDEN, ALLOWED, FORBIDDEN, ALLOWED],
        ),
        ("LedgerService.ExportMeetingMinutes", meeting_readers),
        ("LedgerService.DecideMeetingItem", ledger_supervisors),
        // The audit of parties shown: admins only.
        (
            "AuditService.ListPartyReveals",
            [
                FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, ALLOWED, FORBIDDEN,
            ],
        ),
        ("SupervisionService.RegradeCase", supervisor_on_any),
        // Last: it sets the case's departments anew (to the ones it has).
        ("SupervisionService.ReassignCase", supervisor_on_any),
    ]
}

/// Every RPC the protos declare on the two services.
fn declared_rpcs() -> BTreeSet<String> {
    let set = prost_types::FileDescriptorSet::decode(gridwhistle_proto::FILE_DESCRIPTOR_SET)
        .expect("the descriptor set decodes");
    set.file
        .iter()
        .flat_map(|file| file.service.iter())
        .filter(|s| {
            matches!(
                s.name(),
                "ReportService"
                    | "CaseService"
                    | "DirectoryService"
                    | "AttachmentService"
                    | "SupervisionService"
                    | "LedgerService"
                    | "AuditService"
            )
        })
        .flat_map(|s| {
            s.method
                .iter()
                .map(move |m| format!("{}.{}", s.name(), m.name()))
        })
        .collect()
}

/// The objects the calls aim at.
struct Names {
    other_upload: String,
    other_user: String,
    own_file: String,
    other_file: String,
    own_extension: String,
    other_extension: String,
    own_lead: String,
    other_lead: String,
    own_report: String,
    own_case: String,
    other_report: String,
    other_case: String,
    own_letter: String,
    other_letter: String,
    own_entry: String,
    other_entry: String,
    own_leader: String,
    other_leader: String,
    own_meeting: String,
    other_meeting: String,
    /// The responsible unit of the first item of both meetings' agendas, which a decision keeps.
    first_item_unit: String,
}

impl Names {
    fn report(&self, target: Target) -> String {
        match target {
            Target::Own => self.own_report.clone(),
            Target::Other => self.other_report.clone(),
            Target::Missing => format!("reports/{}", new_report_id()),
        }
    }

    fn entry(&self, target: Target) -> String {
        match target {
            Target::Own => self.own_entry.clone(),
            Target::Other => self.other_entry.clone(),
            Target::Missing => format!("ledgerEntries/{}", uuid::Uuid::new_v4()),
        }
    }

    fn meeting(&self, target: Target) -> String {
        match target {
            Target::Own => self.own_meeting.clone(),
            Target::Other => self.other_meeting.clone(),
            Target::Missing => format!("jointMeetings/{}", uuid::Uuid::new_v4()),
        }
    }

    fn letter(&self, target: Target) -> String {
        match target {
            Target::Own => self.own_letter.clone(),
            Target::Other => self.other_letter.clone(),
            Target::Missing => format!("supervisionLetters/{}", uuid::Uuid::new_v4()),
        }
    }

    fn file(&self, target: Target) -> String {
        match target {
            Target::Own => self.own_file.clone(),
            Target::Other => self.other_file.clone(),
            // A real file, on a case that does not exist.
            Target::Missing => format!(
                "cases/{}/attachments/{}",
                new_report_id(),
                self.own_file.rsplit('/').next().unwrap_or_default()
            ),
        }
    }

    fn extension(&self, target: Target) -> String {
        match target {
            Target::Own => self.own_extension.clone(),
            Target::Other => self.other_extension.clone(),
            Target::Missing => format!(
                "cases/{}/extensions/{}",
                new_report_id(),
                uuid::Uuid::now_v7()
            ),
        }
    }

    /// The lead department of the target case ("departments/{department}").
    fn lead(&self, target: Target) -> String {
        match target {
            Target::Other => self.other_lead.clone(),
            Target::Own | Target::Missing => self.own_lead.clone(),
        }
    }

    /// The department whose figures a call names: the own case's lead, the other's, or one that does not exist.
    fn department(&self, target: Target) -> String {
        match target {
            Target::Own => self.own_lead.clone(),
            Target::Other => self.other_lead.clone(),
            Target::Missing => "departments/no-such-department".to_owned(),
        }
    }

    fn case(&self, target: Target) -> String {
        match target {
            Target::Own => self.own_case.clone(),
            Target::Other => self.other_case.clone(),
            Target::Missing => format!("cases/{}", new_report_id()),
        }
    }
}

/// A call's whole answer: its code, message and details (but the request id, different on every call), which must not tell another unit's object from a missing one.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Answer {
    code: Code,
    message: String,
    details: String,
}

fn code<T>(result: Result<tonic::Response<T>, tonic::Status>) -> Answer {
    match result {
        Ok(_) => Answer {
            code: Code::Ok,
            message: String::new(),
            details: String::new(),
        },
        Err(status) => Answer {
            code: status.code(),
            message: status.message().to_owned(),
            details: gridwhistle_tests::details_but_request(&status),
        },
    }
}

/// The period of a figures request: a month.
fn this_month() -> v1::StatsPeriod {
    v1::StatsPeriod {
        period: Some(v1::stats_period::Period::Month("2026-12".to_owned())),
    }
}

fn shortfalls_of(department: String) -> v1::ListShortfallsRequest {
    v1::ListShortfallsRequest {
        department,
        period: Some(this_month()),
        kind: v1::ShortfallKind::LateReportIn.into(),
        ..Default::default()
    }
}

/// Makes one well-formed call of `rpc` as the holder of `token` at `target`.
async fn call(
    district: &District,
    token: &str,
    rpc: &str,
    names: &Names,
    target: Target,
) -> Answer {
    let mut reports = district.app.reports(token);
    let mut cases = district.app.cases(token);
    let (lat, lng) = point_in_grid("g-jianwai-1-01");
    let report = names.report(target);
    let case = names.case(target);
    match rpc {
        "ReportService.CreateReport" => code(
            reports
                .create_report(v1::CreateReportRequest {
                    report_id: new_report_id(),
                    report: Some(report_at(lat, lng, "neighbour-dispute")),
                })
                .await,
        ),
        "ReportService.GetReport" => code(
            reports
                .get_report(v1::GetReportRequest { name: report })
                .await,
        ),
        "ReportService.ListMyReports" => code(
            reports
                .list_my_reports(v1::ListMyReportsRequest::default())
                .await,
        ),
        "ReportService.UploadAttachment" => code(start_upload(&mut reports).await.1),
        "ReportService.UploadAttachmentChunk" => code(
            reports
                .upload_attachment_chunk(v1::UploadAttachmentChunkRequest {
                    upload_id: uuid::Uuid::new_v4().to_string(),
                    total_size_bytes: 1,
                    sha256: "00".repeat(32),
                    ..Default::default()
                })
                .await,
        ),
        "ReportService.QueryUpload" => {
            let upload_id = match target {
                Target::Own => start_upload(&mut reports).await.0,
                Target::Other => names.other_upload.clone(),
                Target::Missing => uuid::Uuid::new_v4().to_string(),
            };
            code(
                reports
                    .query_upload(v1::QueryUploadRequest { upload_id })
                    .await,
            )
        }
        "ReportService.PreviewRouting" => code(
            reports
                .preview_routing(v1::PreviewRoutingRequest {
                    location: report_at(lat, lng, "neighbour-dispute").location,
                    category: "categories/neighbour-dispute".to_owned(),
                })
                .await,
        ),
        "ReportService.ResolveOnSite" => code(
            reports
                .resolve_on_site(v1::ResolveOnSiteRequest {
                    name: report,
                    resolution: "当场调解".to_owned(),
                    ..Default::default()
                })
                .await,
        ),
        "ReportService.Whistle" => code(
            reports
                .whistle(v1::WhistleRequest {
                    name: report,
                    kind: v1::WhistleKind::Routine.into(),
                    ..Default::default()
                })
                .await,
        ),
        "ReportService.VerifyResolution" => code(
            reports
                .verify_resolution(v1::VerifyResolutionRequest {
                    name: report,
                    accepted: true,
                    satisfaction: 4,
                    ..Default::default()
                })
                .await,
        ),
        "ReportService.WatchMyReports" => code(
            reports
                .watch_my_reports(v1::WatchMyReportsRequest::default())
                .await,
        ),
        "CaseService.ListInbox" => code(cases.list_inbox(v1::ListInboxRequest::default()).await),
        "CaseService.ListCases" => code(cases.list_cases(v1::ListCasesRequest::default()).await),
        "CaseService.WatchInbox" => code(cases.watch_inbox(v1::WatchInboxRequest::default()).await),
        "CaseService.GetCase" => code(cases.get_case(v1::GetCaseRequest { name: case }).await),
        "CaseService.ReportIn" => code(
            cases
                .report_in(v1::ReportInRequest {
                    name: case,
                    ..Default::default()
                })
                .await,
        ),
        "CaseService.RecordContact" => code(
            cases
                .record_contact(v1::RecordContactRequest {
                    name: case,
                    note: "电话联系".to_owned(),
                    ..Default::default()
                })
                .await,
        ),
        "CaseService.PostProgress" => code(
            cases
                .post_progress(v1::PostProgressRequest {
                    name: case,
                    text: "进展".to_owned(),
                    ..Default::default()
                })
                .await,
        ),
        "CaseService.ReturnCase" => code(
            cases
                .return_case(v1::ReturnCaseRequest {
                    name: case,
                    reason: "不属于本部门".to_owned(),
                    ..Default::default()
                })
                .await,
        ),
        "CaseService.RequestExtension" => code(
            cases
                .request_extension(v1::RequestExtensionRequest {
                    request_id: String::new(),
                    name: case,
                    stage: v1::DeadlineStage::Finish.into(),
                    requested_due_time: Some(prost_types::Timestamp {
                        seconds: 1_900_000_000,
                        nanos: 0,
                    }),
                    reason: "需协调".to_owned(),
                })
                .await,
        ),
        "CaseService.CompleteCase" => code(
            cases
                .complete_case(v1::CompleteCaseRequest {
                    name: case,
                    result: "已处理".to_owned(),
                    ..Default::default()
                })
                .await,
        ),
        "CaseService.AcknowledgeSupervisionLetter" => code(
            cases
                .acknowledge_supervision_letter(v1::AcknowledgeSupervisionLetterRequest {
                    request_id: String::new(),
                    name: names.letter(target),
                    reply: "已整改".to_owned(),
                })
                .await,
        ),
        "DirectoryService.ListCategories" => code(
            district
                .app
                .directory(token)
                .list_categories(v1::ListCategoriesRequest {})
                .await,
        ),
        "DirectoryService.ListDirectoryDepartments" => code(
            district
                .app
                .directory(token)
                .list_directory_departments(v1::ListDirectoryDepartmentsRequest::default())
                .await,
        ),
        "DirectoryService.BatchGetUserCards" => {
            let user = match target {
                Target::Own => district.user_of_token(token).await,
                Target::Other => names.other_user.clone(),
                Target::Missing => format!("users/{}", new_report_id()),
            };
            code(
                district
                    .app
                    .directory(token)
                    .batch_get_user_cards(v1::BatchGetUserCardsRequest { names: vec![user] })
                    .await,
            )
        }
        "DirectoryService.GetMyArea" => code(
            district
                .app
                .directory(token)
                .get_my_area(v1::GetMyAreaRequest::default())
                .await,
        ),
        "AttachmentService.GetAttachment" => code(
            district
                .app
                .attachments(token)
                .get_attachment(v1::GetAttachmentRequest {
                    name: names.file(target),
                })
                .await,
        ),
        "AttachmentService.DownloadAttachment" => code(
            district
                .app
                .attachments(token)
                .download_attachment(v1::DownloadAttachmentRequest {
                    name: names.file(target),
                    offset: 0,
                })
                .await,
        ),
        rpc if rpc.starts_with("SupervisionService.") => {
            supervision_call(district, token, rpc, names, target).await
        }
        rpc if rpc.starts_with("LedgerService.") => {
            ledger_call(district, token, rpc, names, target).await
        }
        // Aimed at a case's reveals: admins list any case's (none for a missing one), no one else any.
        "AuditService.ListPartyReveals" => code(
            district
                .app
                .audit(token)
                .list_party_reveals(v1::ListPartyRevealsRequest {
                    subject: case,
                    ..Default::default()
                })
                .await,
        ),
        other => panic!("{other} has no call in the authorisation table"),
    }
}

/// Makes one well-formed call of a `SupervisionService` RPC as the holder of `token` at `target`.
async fn supervision_call(
    district: &District,
    token: &str,
    rpc: &str,
    names: &Names,
    target: Target,
) -> Answer {
    let mut supervision = district.app.supervision(token);
    let case = names.case(target);
    match rpc {
        "SupervisionService.ListOverdue" => code(
            supervision
                .list_overdue(v1::ListOverdueRequest::default())
                .await,
        ),
        "SupervisionService.WatchEscalations" => code(
            supervision
                .watch_escalations(v1::WatchEscalationsRequest::default())
                .await,
        ),
        "SupervisionService.DecideExtension" => code(
            supervision
                .decide_extension(v1::DecideExtensionRequest {
                    name: names.extension(target),
                    approved: true,
                    reason: "同意".to_owned(),
                    ..Default::default()
                })
                .await,
        ),
        "SupervisionService.RegradeCase" => code(
            supervision
                .regrade_case(v1::RegradeCaseRequest {
                    name: case.clone(),
                    risk_grade: v1::RiskGrade::A.into(),
                    reason: "风险上升".to_owned(),
                    ..Default::default()
                })
                .await,
        ),
        "SupervisionService.ReassignCase" => code(
            supervision
                .reassign_case(v1::ReassignCaseRequest {
                    name: case,
                    lead_department: names.lead(target),
                    reason: "重新指派".to_owned(),
                    ..Default::default()
                })
                .await,
        ),
        "SupervisionService.IssueSupervisionLetter" => {
            let due = district.app.clock.now().as_unix_millis() / 1000 + 24 * 3600;
            code(
                supervision
                    .issue_supervision_letter(v1::IssueSupervisionLetterRequest {
                        letter_id: uuid::Uuid::new_v4().to_string(),
                        department: names.lead(target),
                        cases: vec![match target {
                            Target::Missing => names.case(Target::Own),
                            Target::Own | Target::Other => case,
                        }],
                        text: "请说明办理进展".to_owned(),
                        reply_due_time: Some(prost_types::Timestamp {
                            seconds: due,
                            nanos: 0,
                        }),
                    })
                    .await,
            )
        }
        "SupervisionService.GetDepartmentStats" => code(
            supervision
                .get_department_stats(v1::GetDepartmentStatsRequest {
                    department: names.department(target),
                    period: Some(this_month()),
                })
                .await,
        ),
        "SupervisionService.BreakDownDepartmentStats" => code(
            supervision
                .break_down_department_stats(v1::BreakDownDepartmentStatsRequest {
                    department: names.department(target),
                    period: Some(this_month()),
                    dimension: v1::StatsDimension::Category.into(),
                })
                .await,
        ),
        "SupervisionService.ListDepartmentTrend" => code(
            supervision
                .list_department_trend(v1::ListDepartmentTrendRequest {
                    department: names.department(target),
                    ..Default::default()
                })
                .await,
        ),
        "SupervisionService.ListShortfalls" => code(
            supervision
                .list_shortfalls(shortfalls_of(names.department(target)))
                .await,
        ),
        "SupervisionService.ExportStats" => code(
            supervision
                .export_stats(v1::ExportStatsRequest {
                    view: Some(v1::export_stats_request::View::Shortfalls(shortfalls_of(
                        names.department(target),
                    ))),
                    format: v1::ExportFormat::Csv.into(),
                })
                .await,
        ),
        "SupervisionService.ListDepartmentStats" => code(
            supervision
                .list_department_stats(v1::ListDepartmentStatsRequest {
                    period: Some(this_month()),
                    order_by: String::new(),
                })
                .await,
        ),
        "SupervisionService.ListAreaStats" => code(
            supervision
                .list_area_stats(v1::ListAreaStatsRequest {
                    period: Some(this_month()),
                    level: v1::AreaLevel::Street.into(),
                    order_by: String::new(),
                })
                .await,
        ),
        "SupervisionService.ListDeadLetters" => code(
            supervision
                .list_dead_letters(v1::ListDeadLettersRequest::default())
                .await,
        ),
        "SupervisionService.ListExtensions" => code(
            supervision
                .list_extensions(v1::ListExtensionsRequest::default())
                .await,
        ),
        "SupervisionService.ListSupervisionLetters" => code(
            supervision
                .list_supervision_letters(v1::ListSupervisionLettersRequest::default())
                .await,
        ),
        "SupervisionService.GetSupervisionLetter" => code(
            supervision
                .get_supervision_letter(v1::GetSupervisionLetterRequest {
                    name: names.letter(target),
                })
                .await,
        ),
        other => panic!("{other} has no call in the authorisation table"),
    }
}

/// Asks for more time on `case` as the duty officer of `department`; returns the extension's name.
async fn extension(district: &District, department: &str, case: &str) -> String {
    district
        .app
        .cases(&district.token(&format!("duty.{department}")).await)
        .request_extension(v1::RequestExtensionRequest {
            request_id: String::new(),
            name: case.to_owned(),
            stage: v1::DeadlineStage::Finish.into(),
            requested_due_time: Some(prost_types::Timestamp {
                seconds: 1_900_000_000,
                nanos: 0,
            }),
            reason: "需协调多方".to_owned(),
        })
        .await
        .expect("the department asks for more time")
        .into_inner()
        .extension
        .expect("an extension")
        .name
}

/// Starts an upload as the client's user, sending no bytes yet.
async fn start_upload(
    reports: &mut v1::report_service_client::ReportServiceClient<gridwhistle_tests::Authed>,
) -> (
    String,
    Result<tonic::Response<v1::UploadAttachmentResponse>, tonic::Status>,
) {
    let upload_id = uuid::Uuid::new_v4().to_string();
    let started = reports
        .upload_attachment(tokio_stream::iter(vec![v1::UploadAttachmentRequest {
            upload_id: upload_id.clone(),
            total_size_bytes: 1,
            sha256: "00".repeat(32),
            ..Default::default()
        }]))
        .await;
    (upload_id, started)
}

/// Files and whistles a report as `worker` in `grid`; returns the report and case names and the lead department.
async fn whistled(district: &District, worker: &str, grid: &str) -> (String, String, String) {
    let report = district
        .file_report(worker, grid, "neighbour-dispute")
        .await;
    let case = district
        .whistle(
            worker,
            &report.name,
            v1::WhistleKind::Routine,
            v1::RiskGrade::Unspecified,
        )
        .await;
    let lead = case.assignments[0]
        .department
        .trim_start_matches("departments/")
        .to_owned();
    (report.name, case.name, lead)
}

/// Reports in and posts progress with a photo on `case` as the duty officer of `department`; returns the file's name under the case.
async fn progress_photo(district: &District, department: &str, case: &str, seed: u8) -> String {
    let duty = format!("duty.{department}");
    let attachment = district.upload(&duty, &photo(2_000, seed)).await;
    let mut cases = district.app.cases(&district.token(&duty).await);
    cases
        .report_in(v1::ReportInRequest {
            name: case.to_owned(),
            ..Default::default()
        })
        .await
        .expect("the department reports in");
    cases
        .post_progress(v1::PostProgressRequest {
            name: case.to_owned(),
            text: "现场照片".to_owned(),
            attachments: vec![attachment.clone()],
            ..Default::default()
        })
        .await
        .expect("the department posts progress with a photo");
    format!(
        "{case}/attachments/{}",
        attachment.trim_start_matches("attachments/")
    )
}

/// A supervision letter to `department` about `case`, reply due in a day; returns its name.
async fn letter(district: &District, department: &str, case: &str) -> String {
    let due = district.app.clock.now().as_unix_millis() / 1000 + 24 * 3600;
    district
        .app
        .supervision(&district.token("supervisor").await)
        .issue_supervision_letter(v1::IssueSupervisionLetterRequest {
            letter_id: uuid::Uuid::new_v4().to_string(),
            department: format!("departments/{department}"),
            cases: vec![case.to_owned()],
            text: "请说明办理进展".to_owned(),
            reply_due_time: Some(prost_types::Timestamp {
                seconds: due,
                nanos: 0,
            }),
        })
        .await
        .expect("the supervisor issues a letter")
        .into_inner()
        .letter
        .expect("a letter")
        .name
}

/// A ledger entry led by `department` and owned by the leader `leader`, taken from `case` or opened on its own; two open steps of the department's.
async fn ledger_entry(
    district: &District,
    case: Option<&str>,
    department: &str,
    leader: &str,
) -> String {
    let due = |days: i64| {
        Some(prost_types::Timestamp {
            seconds: district.app.clock.now().as_unix_millis() / 1000 + days * 86_400,
            nanos: 0,
        })
    };
    let step = |days| v1::LedgerStepPlan {
        department: format!("departments/{department}"),
        description: "化解".to_owned(),
        due_time: due(days),
        working_days: 0,
    };
    district
        .app
        .ledger(&district.token("supervisor").await)
        .open_ledger_entry(v1::OpenLedgerEntryRequest {
            entry_id: uuid::Uuid::new_v4().to_string(),
            case: case.unwrap_or_default().to_owned(),
            title: "积案".to_owned(),
            summary: "重复信访".to_owned(),
            nature: v1::LedgerNature::Other.into(),
            since_time: due(-365),
            complexity: v1::LedgerLevel::Medium.into(),
            social_impact: v1::LedgerLevel::Medium.into(),
            grade: v1::RiskGrade::A.into(),
            responsible_unit: format!("departments/{department}"),
            responsible_person: "负责人".to_owned(),
            leader: district.user_name(leader).await,
            parties: Vec::new(),
            steps: vec![step(10), step(20)],
        })
        .await
        .expect("the supervisor opens a ledger entry")
        .into_inner()
        .entry
        .expect("an entry")
        .name
}

/// `names` with two joint meetings called on the ledger as it stands, and the unit of their first item.
async fn with_meetings(district: &District, mut names: Names) -> Names {
    let mut ledger = district.app.ledger(&district.token("supervisor").await);
    let mut meetings = Vec::new();
    for _ in 0..2 {
        meetings.push(
            ledger
                .call_joint_meeting(v1::CallJointMeetingRequest {
                    meeting_id: uuid::Uuid::new_v4().to_string(),
                    month: "2026-03".to_owned(),
                    title: "联席会议".to_owned(),
                })
                .await
                .expect("the supervisor calls a meeting")
                .into_inner()
                .meeting
                .expect("a meeting"),
        );
    }
    let first = &meetings[0].items[0].ledger_entry;
    names.first_item_unit = if *first == names.own_entry {
        names.lead(Target::Own)
    } else {
        names.lead(Target::Other)
    };
    names.other_meeting = meetings.pop().expect("two meetings").name;
    names.own_meeting = meetings.pop().expect("two meetings").name;
    names
}

/// Makes one well-formed call of a `LedgerService` RPC as the holder of `token` at `target`.
async fn ledger_call(
    district: &District,
    token: &str,
    rpc: &str,
    names: &Names,
    target: Target,
) -> Answer {
    let mut ledger = district.app.ledger(token);
    let name = names.entry(target);
    // Changes keep each entry's leader and departments, so later rows see the same objects.
    let (leader, department) = match target {
        Target::Other => (names.other_leader.clone(), names.lead(Target::Other)),
        Target::Own | Target::Missing => (names.own_leader.clone(), names.lead(Target::Own)),
    };
    let due = district.app.clock.now().as_unix_millis() / 1000 + 30 * 86_400;
    match rpc {
        "LedgerService.OpenLedgerEntry" => code(
            ledger
                .open_ledger_entry(v1::OpenLedgerEntryRequest {
                    entry_id: uuid::Uuid::new_v4().to_string(),
                    title: "积案".to_owned(),
                    summary: "重复信访".to_owned(),
                    nature: v1::LedgerNature::Other.into(),
                    since_time: Some(prost_types::Timestamp {
                        seconds: due - 400 * 86_400,
                        nanos: 0,
                    }),
                    complexity: v1::LedgerLevel::Low.into(),
                    social_impact: v1::LedgerLevel::Low.into(),
                    grade: v1::RiskGrade::C.into(),
                    responsible_unit: department,
                    responsible_person: "负责人".to_owned(),
                    ..Default::default()
                })
                .await,
        ),
        "LedgerService.GetLedgerEntry" => code(
            ledger
                .get_ledger_entry(v1::GetLedgerEntryRequest { name })
                .await,
        ),
        "LedgerService.ListLedgerEntries" => code(
            ledger
                .list_ledger_entries(v1::ListLedgerEntriesRequest::default())
                .await,
        ),
        "LedgerService.CountLedgerEntries" => code(
            ledger
                .count_ledger_entries(v1::CountLedgerEntriesRequest::default())
                .await,
        ),
        "LedgerService.ReviseLedgerPlan" => code(
            ledger
                .revise_ledger_plan(v1::ReviseLedgerPlanRequest {
                    name,
                    steps: vec![v1::LedgerStepPlan {
                        department,
                        description: "调整后的步骤".to_owned(),
                        due_time: Some(prost_types::Timestamp {
                            seconds: due,
                            nanos: 0,
                        }),
                        working_days: 0,
                    }],
                    reason: "联合会审".to_owned(),
                    ..Default::default()
                })
                .await,
        ),
        "LedgerService.RegradeLedgerEntry" => code(
            ledger
                .regrade_ledger_entry(v1::RegradeLedgerEntryRequest {
                    name,
                    grade: v1::RiskGrade::B.into(),
                    reason: "风险下降".to_owned(),
                    ..Default::default()
                })
                .await,
        ),
        "LedgerService.NameLedgerLeader" => code(
            ledger
                .name_ledger_leader(v1::NameLedgerLeaderRequest {
                    name,
                    leader,
                    ..Default::default()
                })
                .await,
        ),
        "LedgerService.CompleteLedgerStep" => code(
            ledger
                .complete_ledger_step(v1::CompleteLedgerStepRequest {
                    name,
                    step: 1,
                    result: "已办".to_owned(),
                    ..Default::default()
                })
                .await,
        ),
        "LedgerService.RequestLedgerCloseOff" => code(
            ledger
                .request_ledger_close_off(v1::RequestLedgerCloseOffRequest {
                    name,
                    result: "已化解".to_owned(),
                    parties_stance: "满意".to_owned(),
                    ..Default::default()
                })
                .await,
        ),
        "LedgerService.DecideLedgerCloseOff" => code(
            ledger
                .decide_ledger_close_off(v1::DecideLedgerCloseOffRequest {
                    name,
                    approve: false,
                    reason: "尚需回访".to_owned(),
                    ..Default::default()
                })
                .await,
        ),
        "LedgerService.ReopenLedgerEntry" => code(
            ledger
                .reopen_ledger_entry(v1::ReopenLedgerEntryRequest {
                    name,
                    reason: "再次到访".to_owned(),
                    ..Default::default()
                })
                .await,
        ),
        "LedgerService.CallJointMeeting" => code(
            ledger
                .call_joint_meeting(v1::CallJointMeetingRequest {
                    meeting_id: uuid::Uuid::new_v4().to_string(),
                    month: "2026-03".to_owned(),
                    title: "联席会议".to_owned(),
                })
                .await,
        ),
        "LedgerService.GetJointMeeting" => code(
            ledger
                .get_joint_meeting(v1::GetJointMeetingRequest {
                    name: names.meeting(target),
                })
                .await,
        ),
        "LedgerService.ListJointMeetings" => code(
            ledger
                .list_joint_meetings(v1::ListJointMeetingsRequest {
                    month: "2026-03".to_owned(),
                })
                .await,
        ),
        "LedgerService.ExportMeetingMinutes" => code(
            ledger
                .export_meeting_minutes(v1::ExportMeetingMinutesRequest {
                    name: names.meeting(target),
                    format: v1::ExportFormat::Csv.into(),
                })
                .await,
        ),
        "LedgerService.DecideMeetingItem" => code(
            ledger
                .decide_meeting_item(v1::DecideMeetingItemRequest {
                    name: names.meeting(target),
                    number: 1,
                    lead_department: names.first_item_unit.clone(),
                    decision: "维持责任单位".to_owned(),
                    ..Default::default()
                })
                .await,
        ),
        "LedgerService.RecordInterview" => code(
            ledger
                .record_interview(v1::RecordInterviewRequest {
                    interview_id: uuid::Uuid::new_v4().to_string(),
                    department: names.lead(Target::Own),
                    person: "所长".to_owned(),
                    reason: "响应率排名末位".to_owned(),
                    outcome: "限期整改".to_owned(),
                    held_time: Some(prost_types::Timestamp {
                        seconds: due - 31 * 86_400,
                        nanos: 0,
                    }),
                    ..Default::default()
                })
                .await,
        ),
        "LedgerService.ListInterviews" => code(
            ledger
                .list_interviews(v1::ListInterviewsRequest {
                    department: names.department(target),
                    ..Default::default()
                })
                .await,
        ),
        other => panic!("{other} has no call in the authorisation table"),
    }
}

#[tokio::test]
async fn every_rpc_authorises_every_role_per_object_and_hides_existence() {
    let table = table();
    let listed: BTreeSet<String> = table.iter().map(|(rpc, _)| (*rpc).to_owned()).collect();
    assert_eq!(
        listed,
        declared_rpcs(),
        "every RPC of the services in the table must have a row in it"
    );

    let district = District::start(gridwhistle_tests::Backend::Sqlite).await;
    let (own_report, own_case, lead) =
        whistled(&district, "worker.g-jianwai-1-01", "g-jianwai-1-01").await;
    let (other_report, other_case, other_lead) =
        whistled(&district, "worker.g-sanlitun-3-01", "g-sanlitun-3-01").await;
    assert_ne!(
        lead, other_lead,
        "the two cases belong to different departments"
    );
    let other_token = district.token("worker.g-sanlitun-3-01").await;
    let (other_upload, started) = start_upload(&mut district.app.reports(&other_token)).await;
    started.unwrap();
    let own_file = progress_photo(&district, &lead, &own_case, 1).await;
    let other_file = progress_photo(&district, &other_lead, &other_case, 2).await;
    let own_extension = extension(&district, &lead, &own_case).await;
    let other_extension = extension(&district, &other_lead, &other_case).await;
    let own_letter = letter(&district, &lead, &own_case).await;
    let names_case = own_case.clone();
    let other_letter = letter(&district, &other_lead, &other_case).await;
    let names = Names {
        other_upload,
        other_user: district.user_name("worker.g-sanlitun-3-01").await,
        own_file,
        other_file,
        own_extension,
        other_extension,
        own_lead: format!("departments/{lead}"),
        other_lead: format!("departments/{other_lead}"),
        own_report,
        own_case,
        other_report,
        other_case,
        own_letter,
        other_letter,
        own_entry: ledger_entry(&district, Some(&names_case), &lead, "leader.politics").await,
        other_entry: ledger_entry(&district, None, &other_lead, "leader.deputy").await,
        own_leader: district.user_name("leader.politics").await,
        other_leader: district.user_name("leader.deputy").await,
        own_meeting: String::new(),
        other_meeting: String::new(),
        first_item_unit: String::new(),
    };
    let names = with_meetings(&district, names).await;
    let users = [
        "worker.g-jianwai-1-01".to_owned(),
        format!("duty.{lead}"),
        format!("head.{lead}"),
        "supervisor".to_owned(),
        "admin".to_owned(),
        "leader.politics".to_owned(),
    ];

    let mut failures = Vec::new();
    for (rpc, row) in &table {
        for (i, expected) in row.iter().enumerate() {
            let token = district.token(&users[i]).await;
            let mut answers = Vec::new();
            for target in [Target::Own, Target::Other, Target::Missing] {
                let answer = call(&district, &token, rpc, &names, target).await;
                assert!(
                    !matches!(
                        answer.code,
                        Code::Unauthenticated
                            | Code::InvalidArgument
                            | Code::Internal
                            | Code::Unavailable
                    ),
                    "the table's requests must be well-formed and authenticated: {rpc} as {} at {target:?} got {answer:?}",
                    ROLES[i]
                );
                answers.push(answer);
            }
            let got = (
                seen(answers[0].code),
                seen(answers[1].code),
                seen(answers[2].code),
            );
            if got != *expected {
                failures.push(format!(
                    "{rpc} as {}: expected {expected:?}, got {got:?}",
                    ROLES[i]
                ));
            }
            if answers[1] != answers[2] && got != (A, A, H) && got.1 != A {
                failures.push(format!(
                    "{rpc} as {}: another unit's object and a missing id answer differently: {:?} and {:?}",
                    ROLES[i], answers[1], answers[2]
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
