//! The storage contract of the closed loop's repositories (reports, timeline, deadlines, letters, outbox, devices, uploads, time limits, and what the directory and boundaries keep for sessions and routing), every public method on SQLite and PostgreSQL alike.
//!
//! Records are written here as the loop service would write them, without the service: each check names the repository it holds to its contract.

use std::time::Duration;

use gridwhistle_dispatcher::deadlines::{DeadlineChange, Started};
use gridwhistle_dispatcher::notify::NoticeKind;
use gridwhistle_dispatcher::push::{Channel, Settlement};
use gridwhistle_dispatcher::routing::rules::Position;
use gridwhistle_domain::{
    AssignmentRole, AssignmentState, AttachmentId, Binding, CaseId, CaseState, CategoryId,
    CoordinateSystem, DeadlineStage, DepartmentId, DepartmentType, DisplayName, EventKind,
    ExtensionId, ExtensionState, GeoPoint, GridId, LetterId, ReportId, ReportState, RequestId,
    Timestamp, UploadId, UserId, Username, WhistleKind,
};
use gridwhistle_server::model::{
    AnswerOutcome, AssignmentFacts, AssignmentRecord, CaseOrder, CaseQuery, CaseRecord, Effects,
    EventFilter, EventPosition, ExtensionFilter, ExtensionRecord, InboxFilter, IssueOutcome,
    LetterFilter, NewEvent, NewLetter, NewNotification, NewReport, Once, OverdueFilter,
    QueuePosition, ReportKey, ReportRecord, RequestKey, RoutingRecord, RoutingRule,
};
use gridwhistle_server::storage::{
    AttachmentRecord, InboxPosition, InboxScope, Lease, NewDepartment, NewDevice, NewGrid,
    NewRefreshToken, NewUser, StorageError, Store, UpdateError, User,
};
use gridwhistle_tests::database::Backend;

const T0: Timestamp = Timestamp::from_unix_millis(1_772_413_200_000);
const MINUTE: Duration = Duration::from_secs(60);

gridwhistle_tests::contract!(
    time_limits_versions_are_stored_whole_and_read_back,
    uploads_commit_forward_only_and_finish_once,
    reports_list_by_author_in_pages_and_by_state,
    reports_change_under_their_version_with_every_effect_in_one_write,
    reports_extensions_are_decided_once,
    requests_are_stored_with_their_step_once_per_caller,
    timeline_feed_reads_in_commit_order_after_a_position,
    deadlines_are_claimed_by_one_replica_until_the_lease_runs_out,
    deadlines_overdue_list_filters_and_pages,
    deadlines_firings_advance_only_where_the_engine_saw_them,
    letters_are_issued_once_per_request_and_answered_once,
    outbox_deliveries_are_claimed_settled_retried_and_dead_lettered,
    outbox_keeps_escalations_and_each_reports_rows,
    devices_register_move_between_users_and_unregister,
    devices_inbox_lists_marks_and_follows_in_commit_order,
    directory_replayed_families_bump_token_generations,
    boundaries_routing_versions_move_with_imports,
    reports_facts_rebuild_from_the_timeline_and_name_what_differed,
    stats_count_shares_areas_and_shortfalls_over_a_period,
    stats_rollups_are_built_once_kept_with_each_change_and_equal_the_facts,
    ledger_entries_open_once_change_under_their_version_and_list_by_urgency,
    interviews_are_recorded_once_and_listed_by_department_and_period,
    meetings_are_called_once_with_their_agenda_and_each_item_decided_once,
    ledger_step_deadlines_are_claimed_and_fired_onto_their_entry_once,
    gauges_count_open_and_overdue_shares_and_the_outbox_backlog,
);

/// The cast every check needs: a department, a grid, a grid worker, a duty officer and a supervisor.
struct Cast {
    department: DepartmentId,
    worker: User,
    officer: User,
}

async fn cast(store: &Store) -> Cast {
    let department = DepartmentId::parse("police-jw").unwrap();
    store
        .directory()
        .create_department(
            NewDepartment {
                id: department.clone(),
                display_name: DisplayName::parse("建外派出所").unwrap(),
                department_type: DepartmentType::parse("police").unwrap(),
                routing_priority: 0,
                fallback_owner: false,
            },
            T0,
        )
        .await
        .unwrap();
    let grid = GridId::parse("g-7").unwrap();
    store
        .directory()
        .insert_grids(
            &[NewGrid {
                id: grid.clone(),
                display_name: DisplayName::parse("网格 7").unwrap(),
                community: "建外社区".to_owned(),
                street: "建外街道".to_owned(),
                district: "朝阳区".to_owned(),
            }],
            T0,
        )
        .await
        .unwrap();
    let add = |name: &str, binding: Binding| {
        store.directory().create_user(
            NewUser {
                id: UserId::generate(),
                username: Username::parse(name).unwrap(),
                display_name: DisplayName::parse(name).unwrap(),
                binding,
                password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
            },
            T0,
        )
    };
    let worker = add("worker", Binding::GridWorker(grid)).await.unwrap();
    let officer = add("officer", Binding::DutyOfficer(department.clone()))
        .await
        .unwrap();
    add("supervisor", Binding::Supervisor).await.unwrap();
    Cast {
        department,
        worker,
        officer,
    }
}

fn new_report(id: ReportId, hash: &str) -> NewReport {
    NewReport {
        id,
        category: CategoryId::parse("noise").unwrap(),
        description: "施工噪音扰民".to_owned(),
        location: Position {
            point: GeoPoint::new(39.9087, 116.4605).unwrap(),
            system: CoordinateSystem::Gcj02,
            accuracy_m: 8.0,
        },
        observed_at: T0,
        risk_grade: None,
        parties: Vec::new(),
        attachments: Vec::new(),
        request_hash: hash.to_owned(),
    }
}

async fn file(store: &Store, cast: &Cast, at: Timestamp) -> ReportRecord {
    let id = ReportId::generate();
    match store
        .reports()
        .create(cast.worker.id, None, new_report(id, "h"), at)
        .await
        .unwrap()
    {
        gridwhistle_server::model::CreateOutcome::Created(record) => record,
        other => panic!("filing a new report: {other:?}"),
    }
}

fn event(kind: EventKind, actor: UserId, text: &str) -> NewEvent {
    NewEvent {
        kind,
        actor: Some(actor),
        department: None,
        text: text.to_owned(),
        attachments: Vec::new(),
    }
}

/// Whistles `report` to the cast's department as the loop would: the case, a lead assignment, a report-in deadline due in 30 minutes (a reminder at 15), and a notice to the duty officers.
/// A report filed in grid g-7 by the cast's worker (payload hash `hash`) and whistled at `T0`.
async fn filed_and_whistled(store: &Store, cast: &Cast, hash: &str) -> ReportRecord {
    let filed = match store
        .reports()
        .create(
            cast.worker.id,
            Some(GridId::parse("g-7").unwrap()),
            new_report(ReportId::generate(), hash),
            T0,
        )
        .await
        .unwrap()
    {
        gridwhistle_server::model::CreateOutcome::Created(record) => record,
        other => panic!("filing a new report: {other:?}"),
    };
    whistle(store, cast, &filed, T0).await
}

async fn whistle(store: &Store, cast: &Cast, report: &ReportRecord, at: Timestamp) -> ReportRecord {
    let department = cast.department.clone();
    let actor = cast.worker.id;
    let (record, _) = store
        .reports()
        .update(
            ReportKey::Report(report.id),
            Some(report.version),
            at,
            None,
            move |r| {
                r.state = ReportState::Whistled;
                r.case = Some(CaseRecord {
                    id: CaseId::generate(),
                    state: CaseState::Open,
                    kind: WhistleKind::Routine,
                    note: String::new(),
                    whistled_at: at,
                    routing: RoutingRecord {
                        generation: 1,
                        rule: RoutingRule::SingleCover,
                        near_border: false,
                        border_distance_m: None,
                        needs_supervisor: false,
                        routed_lat: 39.9,
                        routed_lng: 116.4,
                        grid: Some("g-7".to_owned()),
                        explanation: "lead police: police-jw".to_owned(),
                        departments: Vec::new(),
                    },
                    rework_count: 0,
                    satisfaction: None,
                    policy_version: Some(1),
                });
                r.assignments.push(AssignmentRecord {
                    department: department.clone(),
                    department_type: "police".to_owned(),
                    role: AssignmentRole::Lead,
                    state: AssignmentState::Summoned,
                    jurisdiction: None,
                    contacted: false,
                    summoned_at: at,
                    report_in_at: None,
                    contact_at: None,
                    complete_at: None,
                    result: None,
                    result_attachments: Vec::new(),
                    facts: AssignmentFacts::default(),
                });
                Ok::<_, std::convert::Infallible>(Effects {
                    events: vec![event(EventKind::Whistled, actor, "whistled")],
                    deadlines: vec![DeadlineChange::Start(Started {
                        department: department.clone(),
                        stage: DeadlineStage::ReportIn,
                        started_at: at,
                        due_at: at.saturating_add(30 * MINUTE),
                        next_fire_at: Some(at.saturating_add(15 * MINUTE)),
                        letter: None,
                        provisional: false,
                    })],
                    notifications: vec![NewNotification {
                        department: Some(department.clone()),
                        audience: "duty_officers",
                        kind: NoticeKind::CaseAssigned,
                        recipient: None,
                        stage: None,
                        escalation_level: 0,
                        due_at: None,
                    }],
                    ..Effects::default()
                })
            },
        )
        .await
        .unwrap();
    record
}

fn case_of(record: &ReportRecord) -> CaseId {
    record.case.as_ref().expect("whistled").id
}

fn device(id: &str, token: &str) -> NewDevice {
    NewDevice {
        id: id.to_owned(),
        push_token: token.to_owned(),
        platform: "android".to_owned(),
        channel: Channel::Fcm,
        app_version: "1.0.0".to_owned(),
        locale: "zh-CN".to_owned(),
    }
}

/// Reads `read` until it answers `expected` items: on PostgreSQL the feed stops below the oldest transaction running anywhere in the cluster (another test's, say), so what just committed shows once those end. Bounded; a wait for an effect, not for time.
async fn settled<T, F, Fut>(expected: usize, read: F) -> Vec<T>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Vec<T>>,
{
    for _ in 0..200 {
        let items = read().await;
        if items.len() >= expected {
            return items;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    read().await
}

/// An open entry of the ledger, responsible `cast`'s department, graded `grade`, with `steps`.
fn ledger_entry(
    cast: &Cast,
    grade: gridwhistle_domain::RiskGrade,
    case: Option<gridwhistle_server::model::LinkedCase>,
    steps: Vec<gridwhistle_server::model::LedgerStepRecord>,
) -> gridwhistle_server::model::LedgerEntryRecord {
    use gridwhistle_domain::ledger::{LedgerState, Level, Nature};
    gridwhistle_server::model::LedgerEntryRecord {
        id: gridwhistle_domain::LedgerEntryId::parse(&uuid::Uuid::new_v4().to_string()).unwrap(),
        case,
        title: "积案".to_owned(),
        summary: "多年信访".to_owned(),
        nature: Nature::LawRelated,
        since: T0,
        complexity: Level::High,
        social_impact: Level::Low,
        grade,
        unit: cast.department.clone(),
        responsible_person: "所长".to_owned(),
        leader: None,
        parties: Vec::new(),
        state: LedgerState::Open,
        close_result: None,
        parties_stance: None,
        steps,
        version: 1,
        request_hash: "h".to_owned(),
        created_at: T0,
        updated_at: T0,
        closed_at: None,
    }
}

mod checks {
    use super::*;

    pub(super) async fn time_limits_versions_are_stored_whole_and_read_back(
        store: &Store,
        _: Backend,
    ) {
        let limits = store.time_limits();
        assert_eq!(limits.current_time_limits().await.unwrap(), None);
        let v1 = limits
            .import_time_limits("{\"a\":1}".to_owned(), T0)
            .await
            .unwrap();
        let v2 = limits
            .import_time_limits("{\"b\":2}".to_owned(), T0)
            .await
            .unwrap();
        assert!(v2 > v1);
        assert_eq!(
            limits.current_time_limits().await.unwrap(),
            Some((v2, "{\"b\":2}".to_owned()))
        );
        assert_eq!(limits.all_time_limits().await.unwrap().len(), 2);
        assert_eq!(
            limits.time_limits_after(v1).await.unwrap(),
            vec![(v2, "{\"b\":2}".to_owned())]
        );
        assert_eq!(
            limits.version(v1).await.unwrap().as_deref(),
            Some("{\"a\":1}")
        );
        assert_eq!(limits.version(v2 + 100).await.unwrap(), None);
    }

    pub(super) async fn uploads_commit_forward_only_and_finish_once(store: &Store, _: Backend) {
        let cast = cast(store).await;
        let uploads = store.uploads();
        let sha = AttachmentId::parse(&"ab".repeat(32)).unwrap();
        let id = UploadId::generate();
        assert_eq!(uploads.get_upload(id).await.unwrap(), None);
        let started = uploads
            .start_upload(id, cast.worker.id, 10, sha.clone(), T0)
            .await
            .unwrap();
        assert_eq!((started.committed_size, started.completed), (0, false));
        assert!(uploads.commit_upload(id, 0, 6).await.unwrap());
        assert!(
            !uploads.commit_upload(id, 0, 6).await.unwrap(),
            "a writer that read a stale size loses"
        );
        assert_eq!(
            uploads
                .missing_uploads(&cast.worker.id, std::slice::from_ref(&sha))
                .await
                .unwrap(),
            vec![sha.clone()],
            "an unfinished upload is still missing"
        );
        let attachment = AttachmentRecord {
            id: sha.clone(),
            content_type: "image/jpeg".to_owned(),
            size: 10,
            created_at: T0,
        };
        uploads.complete_upload(id, &attachment).await.unwrap();
        assert_eq!(
            uploads.get_attachment(&sha).await.unwrap(),
            Some(attachment)
        );
        assert!(uploads.get_upload(id).await.unwrap().unwrap().completed);
        assert!(
            uploads
                .missing_uploads(&cast.worker.id, std::slice::from_ref(&sha))
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            uploads
                .missing_uploads(&cast.officer.id, std::slice::from_ref(&sha))
                .await
                .unwrap(),
            vec![sha.clone()],
            "another owner's upload does not count"
        );
        let refused = UploadId::generate();
        uploads
            .start_upload(refused, cast.worker.id, 4, sha.clone(), T0)
            .await
            .unwrap();
        uploads
            .refuse_upload(refused, "not an image")
            .await
            .unwrap();
        let stored = uploads.get_upload(refused).await.unwrap().unwrap();
        assert_eq!(stored.refused.as_deref(), Some("not an image"));
        assert!(
            !uploads.commit_upload(refused, 0, 4).await.unwrap(),
            "a refused upload takes no more bytes"
        );
    }

    pub(super) async fn reports_list_by_author_in_pages_and_by_state(store: &Store, _: Backend) {
        let cast = cast(store).await;
        let mut filed = Vec::new();
        for _ in 0..5 {
            filed.push(file(store, &cast, T0).await);
        }
        whistle(store, &cast, &filed[1], T0).await;
        let reports = store.reports();
        let first = reports
            .by_author(&cast.worker.id, None, None, 3)
            .await
            .unwrap();
        let ids: Vec<ReportId> = first.iter().map(|r| r.id).collect();
        assert_eq!(ids, filed[..3].iter().map(|r| r.id).collect::<Vec<_>>());
        let rest = reports
            .by_author(&cast.worker.id, None, ids.last(), 3)
            .await
            .unwrap();
        assert_eq!(rest.len(), 2);
        let whistled = reports
            .by_author(&cast.worker.id, Some(ReportState::Whistled), None, 10)
            .await
            .unwrap();
        assert_eq!(whistled.len(), 1);
        assert_eq!(whistled[0].assignments.len(), 1, "listed with assignments");
        assert!(
            reports
                .by_author(&cast.officer.id, None, None, 10)
                .await
                .unwrap()
                .is_empty()
        );
    }

    pub(super) async fn reports_change_under_their_version_with_every_effect_in_one_write(
        store: &Store,
        _: Backend,
    ) {
        let cast = cast(store).await;
        let filed = file(store, &cast, T0).await;
        let stale = store
            .reports()
            .update(
                ReportKey::Report(filed.id),
                Some(filed.version + 1),
                T0,
                None,
                |_| Ok::<_, ()>(Effects::default()),
            )
            .await;
        assert!(matches!(stale, Err(UpdateError::Stale)));
        let refused = store
            .reports()
            .update(ReportKey::Report(filed.id), None, T0, None, |_| {
                Err::<Effects, _>("no")
            })
            .await;
        assert!(matches!(refused, Err(UpdateError::Refused("no"))));
        let missing = store
            .reports()
            .update(
                ReportKey::Report(ReportId::generate()),
                None,
                T0,
                None,
                |_| Ok::<_, ()>(Effects::default()),
            )
            .await;
        assert!(matches!(missing, Err(UpdateError::NotFound)));

        let whistled = whistle(store, &cast, &filed, T0).await;
        assert_eq!(
            whistled.version,
            filed.version + 1,
            "one event, one version"
        );
        assert_eq!(whistled.deadlines.len(), 1);
        assert_eq!(whistled.deadlines[0].stage, DeadlineStage::ReportIn);
        let by_case = store
            .reports()
            .get(ReportKey::Case(case_of(&whistled)))
            .await
            .unwrap();
        assert_eq!(by_case.id, filed.id);
        assert_eq!(by_case.case, whistled.case);
        let timeline = store.timeline().of_report(&filed.id).await.unwrap();
        let kinds: Vec<EventKind> = timeline.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, vec![EventKind::Reported, EventKind::Whistled]);
        let outbox = store.outbox().of_report(&filed.id).await.unwrap();
        assert_eq!(outbox.len(), 1);
        assert_eq!(outbox[0].1, "case_assigned");
        let inbox = store
            .reports()
            .list_inbox(&cast.department, &InboxFilter::default(), None, 10)
            .await
            .unwrap();
        assert_eq!(
            inbox.iter().map(|r| r.id).collect::<Vec<_>>(),
            vec![filed.id]
        );
        // In due order, each case comes with its department's nearest pending due time.
        let by_due = store
            .reports()
            .list_inbox_by_due(&cast.department, &InboxFilter::default(), None, 10)
            .await
            .unwrap();
        let due = whistled.deadlines[0].due_at.as_unix_millis();
        assert_eq!(
            by_due
                .iter()
                .map(|(due, r)| (*due, r.id))
                .collect::<Vec<_>>(),
            vec![(due, filed.id)]
        );
        assert!(
            store
                .reports()
                .list_inbox_by_due(
                    &cast.department,
                    &InboxFilter::default(),
                    Some((due, filed.id)),
                    10
                )
                .await
                .unwrap()
                .is_empty(),
            "nothing after the last position"
        );
        // The case queue: the department's own due time, or the whistle time, as the sort key.
        let own = CaseQuery {
            department: Some(cast.department.clone()),
            states: vec![CaseState::Open],
            ..CaseQuery::default()
        };
        let queued = store.reports().queue(&own, None, 10).await.unwrap();
        assert_eq!(
            queued
                .iter()
                .map(|(key, r)| (*key, r.id))
                .collect::<Vec<_>>(),
            vec![(due, filed.id)]
        );
        let by_whistle = CaseQuery {
            order: CaseOrder::Whistled,
            ..CaseQuery::default()
        };
        let queued = store.reports().queue(&by_whistle, None, 10).await.unwrap();
        assert_eq!(queued[0].0, T0.as_unix_millis());
        let after = QueuePosition {
            key: queued[0].0,
            report: filed.id,
        };
        assert!(
            store
                .reports()
                .queue(&by_whistle, Some(after), 10)
                .await
                .unwrap()
                .is_empty()
        );
        let closed = CaseQuery {
            states: vec![CaseState::Closed],
            ..CaseQuery::default()
        };
        assert!(
            store
                .reports()
                .queue(&closed, None, 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            store
                .reports()
                .queue_sql(&own, None, 10)
                .contains("ORDER BY")
        );
        let reported_in = InboxFilter {
            state: Some(AssignmentState::ReportedIn),
            ..InboxFilter::default()
        };
        assert!(
            store
                .reports()
                .list_inbox(&cast.department, &reported_in, None, 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(matches!(
            store
                .reports()
                .get(ReportKey::Case(CaseId::generate()))
                .await,
            Err(StorageError::NotFound { entity: "case" })
        ));
    }

    pub(super) async fn reports_extensions_are_decided_once(store: &Store, _: Backend) {
        let cast = cast(store).await;
        let whistled = whistle(store, &cast, &file(store, &cast, T0).await, T0).await;
        let case = case_of(&whistled);
        let id = ExtensionId::generate();
        let requested = ExtensionRecord {
            id,
            report: whistled.id,
            department: cast.department.clone(),
            stage: DeadlineStage::ReportIn,
            requested_due: T0.saturating_add(120 * MINUTE),
            reason: "路远".to_owned(),
            state: ExtensionState::Pending,
            approved_due: None,
            decision_reason: None,
            created_at: T0,
            decided_at: None,
        };
        let officer = cast.officer.id;
        let asked = requested.clone();
        store
            .reports()
            .update(ReportKey::Case(case), None, T0, None, move |_| {
                Ok::<_, ()>(Effects {
                    events: vec![event(EventKind::ExtensionRequested, officer, "路远")],
                    extension: Some(asked.clone()),
                    ..Effects::default()
                })
            })
            .await
            .unwrap();
        assert_eq!(
            store.reports().extension(&case, &id).await.unwrap(),
            requested
        );
        let listed = |department: &DepartmentId, state: ExtensionState| {
            let filter = ExtensionFilter {
                department: Some(department.clone()),
                state: Some(state),
            };
            async move { store.reports().extensions(&filter, None, 10).await.unwrap() }
        };
        assert_eq!(
            listed(&cast.department, ExtensionState::Pending).await,
            vec![(case, requested.clone())]
        );
        let elsewhere = DepartmentId::parse("elsewhere").unwrap();
        assert!(listed(&elsewhere, ExtensionState::Pending).await.is_empty());
        assert!(
            store
                .reports()
                .extensions(&ExtensionFilter::default(), Some(&id), 10)
                .await
                .unwrap()
                .is_empty(),
            "nothing after the last request"
        );
        assert!(matches!(
            store.reports().extension(&CaseId::generate(), &id).await,
            Err(StorageError::NotFound {
                entity: "extension"
            })
        ));
        let decided = ExtensionRecord {
            state: ExtensionState::Approved,
            approved_due: Some(T0.saturating_add(90 * MINUTE)),
            decided_at: Some(T0),
            ..requested
        };
        let decide = |decided: ExtensionRecord| {
            move |_: &mut ReportRecord| {
                Ok::<_, ()>(Effects {
                    events: vec![event(EventKind::ExtensionDecided, officer, "approved")],
                    decided_extension: Some(decided.clone()),
                    ..Effects::default()
                })
            }
        };
        store
            .reports()
            .update(
                ReportKey::Case(case),
                None,
                T0,
                None,
                decide(decided.clone()),
            )
            .await
            .unwrap();
        assert_eq!(
            store.reports().extension(&case, &id).await.unwrap(),
            decided
        );
        assert!(
            listed(&cast.department, ExtensionState::Pending)
                .await
                .is_empty()
        );
        assert_eq!(
            listed(&cast.department, ExtensionState::Approved).await,
            vec![(case, decided.clone())]
        );
        let again = store
            .reports()
            .update(ReportKey::Case(case), None, T0, None, decide(decided))
            .await;
        assert!(
            matches!(
                again,
                Err(UpdateError::Storage(StorageError::Precondition(_)))
            ),
            "{again:?}"
        );
    }

    pub(super) async fn timeline_feed_reads_in_commit_order_after_a_position(
        store: &Store,
        _: Backend,
    ) {
        let cast = cast(store).await;
        let start = store.timeline().horizon().await.unwrap();
        let mut commits = store.timeline().subscribe_commits();
        let first = file(store, &cast, T0).await;
        commits
            .changed()
            .await
            .expect("a commit of this process wakes the feed");
        let second = whistle(store, &cast, &file(store, &cast, T0).await, T0).await;
        let author = EventFilter::Author(cast.worker.id);
        let all = settled(3, || async {
            store.timeline().after(&author, start, 100).await.unwrap()
        })
        .await;
        let seen: Vec<(ReportId, EventKind)> = all.iter().map(|e| (e.report, e.kind)).collect();
        assert_eq!(
            seen,
            vec![
                (first.id, EventKind::Reported),
                (second.id, EventKind::Reported),
                (second.id, EventKind::Whistled),
            ]
        );
        let positions: Vec<EventPosition> = all.iter().map(|e| e.position).collect();
        let mut sorted = positions.clone();
        sorted.sort();
        assert_eq!(positions, sorted, "commit order");
        let after_first = store
            .timeline()
            .after(&EventFilter::Author(cast.worker.id), positions[0], 100)
            .await
            .unwrap();
        assert_eq!(after_first.len(), 2, "resumes after a cursor");
        let department = store
            .timeline()
            .after(
                &EventFilter::Department(cast.department.clone()),
                start,
                100,
            )
            .await
            .unwrap();
        assert_eq!(department.len(), 2, "the summoned case's whole timeline");
        let whistles = store
            .timeline()
            .after(&EventFilter::Kind(EventKind::Whistled), start, 100)
            .await
            .unwrap();
        assert_eq!(whistles.len(), 1);
        let limited = store
            .timeline()
            .after(&EventFilter::Author(cast.worker.id), start, 1)
            .await
            .unwrap();
        assert_eq!(limited.len(), 1);
    }

    pub(super) async fn deadlines_are_claimed_by_one_replica_until_the_lease_runs_out(
        store: &Store,
        backend: Backend,
    ) {
        let cast = cast(store).await;
        whistle(store, &cast, &file(store, &cast, T0).await, T0).await;
        whistle(store, &cast, &file(store, &cast, T0).await, T0).await;
        let now = T0.saturating_add(20 * MINUTE);
        let until = now.saturating_add(MINUTE);
        let lease = |owner| Lease {
            owner,
            until: now.saturating_add(5 * MINUTE),
        };
        let a = store
            .deadlines()
            .claim_due(lease("a"), now, until, None, 10)
            .await
            .unwrap();
        assert_eq!(a.len(), 2, "both reminders are due");
        assert!(a[0].fire_at <= a[1].fire_at, "earliest first");
        let page = store
            .deadlines()
            .claim_due(lease("a"), now, until, Some((a[0].fire_at, a[0].id)), 10)
            .await
            .unwrap();
        assert_eq!(page.iter().map(|d| d.id).collect::<Vec<_>>(), vec![a[1].id]);
        let b = store
            .deadlines()
            .claim_due(lease("b"), now, until, None, 10)
            .await
            .unwrap();
        match backend {
            // Claims are leases on PostgreSQL, where replicas share the work.
            Backend::Postgres => assert!(b.is_empty(), "another replica's claims are skipped"),
            // One process runs the engine on SQLite: rows are read plainly.
            Backend::Sqlite => assert_eq!(b.len(), 2),
        }
        let later = now.saturating_add(6 * MINUTE);
        let taken_over = store
            .deadlines()
            .claim_due(
                Lease {
                    owner: "b",
                    until: later.saturating_add(5 * MINUTE),
                },
                later,
                later.saturating_add(MINUTE),
                None,
                10,
            )
            .await
            .unwrap();
        assert_eq!(taken_over.len(), 2, "a lease that ran out is taken over");
        let nothing_yet = store
            .deadlines()
            .claim_due(lease("c"), T0, T0.saturating_add(MINUTE), None, 10)
            .await
            .unwrap();
        assert!(nothing_yet.is_empty(), "nothing is due before its firing");
    }

    pub(super) async fn deadlines_overdue_list_filters_and_pages(store: &Store, _: Backend) {
        let cast = cast(store).await;
        for _ in 0..3 {
            whistle(store, &cast, &file(store, &cast, T0).await, T0).await;
        }
        let deadlines = store.deadlines();
        let before_due = T0.saturating_add(10 * MINUTE);
        let all = OverdueFilter::default();
        assert!(
            deadlines
                .list_overdue(before_due, &all, None, 10)
                .await
                .unwrap()
                .is_empty()
        );
        let past_due = T0.saturating_add(31 * MINUTE);
        let overdue = deadlines
            .list_overdue(past_due, &all, None, 10)
            .await
            .unwrap();
        assert_eq!(overdue.len(), 3);
        assert!(overdue.iter().all(|o| o.stage == DeadlineStage::ReportIn));
        let first = deadlines
            .list_overdue(past_due, &all, None, 2)
            .await
            .unwrap();
        let last = &first[1];
        let rest = deadlines
            .list_overdue(past_due, &all, Some((last.due_at, last.deadline)), 10)
            .await
            .unwrap();
        assert_eq!(rest.len(), 1);
        let elsewhere = [
            OverdueFilter {
                department: Some(DepartmentId::parse("parks").unwrap()),
                ..OverdueFilter::default()
            },
            OverdueFilter {
                stage: Some(DeadlineStage::Finish),
                ..OverdueFilter::default()
            },
            OverdueFilter {
                risk_grade: Some(gridwhistle_domain::RiskGrade::A),
                ..OverdueFilter::default()
            },
        ];
        for filter in &elsewhere {
            let found = deadlines
                .list_overdue(past_due, filter, None, 10)
                .await
                .unwrap();
            assert!(found.is_empty(), "{filter:?} matches none");
        }
    }

    pub(super) async fn deadlines_firings_advance_only_where_the_engine_saw_them(
        store: &Store,
        _: Backend,
    ) {
        let cast = cast(store).await;
        let whistled = whistle(store, &cast, &file(store, &cast, T0).await, T0).await;
        let row = whistled.deadlines[0].clone();
        let at = T0.saturating_add(15 * MINUTE);
        let fire = |fired_step: u32| {
            let row = row.clone();
            move |targets: &[gridwhistle_server::storage::FiringTarget]| {
                let target = &targets[0];
                assert_eq!(
                    target.deadlines.len(),
                    1,
                    "the asked deadline, as it stands"
                );
                let effects = Effects {
                    events: vec![NewEvent {
                        kind: EventKind::Reminder,
                        actor: None,
                        department: Some(row.department.clone()),
                        text: "reminder".to_owned(),
                        attachments: Vec::new(),
                    }],
                    deadlines: vec![DeadlineChange::Advance {
                        deadline: row.id,
                        department: row.department.clone(),
                        stage: row.stage,
                        fired_step,
                        next_fire_at: Some(row.due_at),
                        escalation_level: 0,
                    }],
                    notifications: vec![NewNotification {
                        department: Some(row.department.clone()),
                        audience: "duty_officers",
                        kind: NoticeKind::Reminder,
                        recipient: None,
                        stage: Some(row.stage),
                        escalation_level: 0,
                        due_at: Some(row.due_at),
                    }],
                    ..Effects::default()
                };
                Ok::<_, ()>((vec![(target.head.id, effects)], target.head.version))
            }
        };
        let version = store
            .deadlines()
            .append_firings(vec![(whistled.id, row.id)], at, fire(0))
            .await
            .unwrap();
        assert_eq!(version, whistled.version, "decided on the report as read");
        let fired = store
            .reports()
            .get(ReportKey::Report(whistled.id))
            .await
            .unwrap();
        assert_eq!(fired.version, whistled.version + 1);
        assert_eq!(fired.deadlines[0].next_step, 1);
        assert_eq!(fired.deadlines[0].next_fire_at, Some(row.due_at));
        let again = store
            .deadlines()
            .append_firings(vec![(whistled.id, row.id)], at, fire(0))
            .await;
        assert!(
            matches!(again, Err(UpdateError::Stale)),
            "a step fired already is not fired twice: {again:?}"
        );
        let unchanged = store
            .reports()
            .get(ReportKey::Report(whistled.id))
            .await
            .unwrap();
        assert_eq!(
            unchanged.version, fired.version,
            "the whole batch rolled back"
        );
        let reminders = store.outbox().of_report(&whistled.id).await.unwrap();
        assert_eq!(reminders.iter().filter(|n| n.1 == "reminder").count(), 1);
    }

    pub(super) async fn requests_are_stored_with_their_step_once_per_caller(
        store: &Store,
        _: Backend,
    ) {
        let cast = cast(store).await;
        let whistled = whistle(store, &cast, &file(store, &cast, T0).await, T0).await;
        let key = |user: UserId, id: RequestId| RequestKey {
            user,
            id,
            method: "PostProgress",
            request_hash: "h1".to_owned(),
        };
        let once = |key: RequestKey| Once {
            key,
            render: std::sync::Arc::new(|(r, e): &(ReportRecord, Effects)| {
                Ok(format!("{}:{}", r.version, e.events.len()).into_bytes())
            }),
        };
        let progress = |once: Once<(ReportRecord, Effects)>| {
            let officer = cast.officer.id;
            store.reports().update(
                ReportKey::Report(whistled.id),
                None,
                T0.saturating_add(MINUTE),
                Some(once),
                move |_| {
                    Ok::<_, ()>(Effects {
                        events: vec![event(EventKind::Progress, officer, "已到场")],
                        ..Effects::default()
                    })
                },
            )
        };
        let id = RequestId::generate();
        assert_eq!(
            store.requests().get(&cast.officer.id, &id).await.unwrap(),
            None
        );
        let (done, _) = progress(once(key(cast.officer.id, id))).await.unwrap();
        let stored = store
            .requests()
            .get(&cast.officer.id, &id)
            .await
            .unwrap()
            .expect("the request is stored with its step");
        assert_eq!(stored.answer, format!("{}:1", done.version).into_bytes());
        assert_eq!(stored.method, "PostProgress");
        assert_eq!(stored.created_at, T0.saturating_add(MINUTE));
        assert!(stored.repeated_by(&key(cast.officer.id, id)));
        let other = RequestKey {
            request_hash: "h2".to_owned(),
            ..key(cast.officer.id, id)
        };
        assert!(!stored.repeated_by(&other), "another payload under the id");

        // The same id again is refused inside the write, and the step rolls back with it.
        let again = progress(once(key(cast.officer.id, id))).await;
        assert!(
            matches!(
                again,
                Err(UpdateError::Storage(StorageError::AlreadyExists {
                    entity: "request"
                }))
            ),
            "{again:?}"
        );
        let now = store
            .reports()
            .get(ReportKey::Report(whistled.id))
            .await
            .unwrap();
        assert_eq!(
            now.version, done.version,
            "nothing of the refused step stayed"
        );

        // Ids are each caller's own.
        progress(once(key(cast.worker.id, id))).await.unwrap();
        // An answer that cannot be rendered fails the step, which leaves nothing behind.
        let unrenderable = Once {
            key: key(cast.officer.id, RequestId::generate()),
            render: std::sync::Arc::new(|_: &(ReportRecord, Effects)| Err("no".to_owned())),
        };
        let failed = progress(unrenderable.clone()).await;
        assert!(
            matches!(
                failed,
                Err(UpdateError::Storage(StorageError::Corrupt {
                    entity: "answer",
                    ..
                }))
            ),
            "{failed:?}"
        );
        assert_eq!(
            store
                .requests()
                .get(&cast.officer.id, &unrenderable.key.id)
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            store
                .reports()
                .get(ReportKey::Report(whistled.id))
                .await
                .unwrap()
                .version,
            done.version + 1,
            "only the worker's step was written"
        );
    }

    pub(super) async fn letters_are_issued_once_per_request_and_answered_once(
        store: &Store,
        _: Backend,
    ) {
        let cast = cast(store).await;
        let whistled = whistle(store, &cast, &file(store, &cast, T0).await, T0).await;
        let id = LetterId::generate();
        let new = |hash: &str| NewLetter {
            id,
            department: cast.department.clone(),
            issuer: cast.worker.id,
            text: "限期办结".to_owned(),
            cases: vec![case_of(&whistled)],
            reply_due: T0.saturating_add(60 * MINUTE),
            request_hash: hash.to_owned(),
        };
        let on_the_case = |actor: UserId| {
            move |records: &[ReportRecord]| {
                Ok::<_, ()>(
                    records
                        .iter()
                        .map(|r| {
                            let effects = Effects {
                                events: vec![event(EventKind::SupervisionLetter, actor, "督办")],
                                ..Effects::default()
                            };
                            (r.id, effects)
                        })
                        .collect(),
                )
            }
        };
        let issued = store
            .letters()
            .issue(new("h1"), T0, on_the_case(cast.worker.id))
            .await
            .unwrap();
        let IssueOutcome::Issued(letter) = issued else {
            panic!("a new letter is issued: {issued:?}");
        };
        assert_eq!(store.letters().get(&id).await.unwrap(), letter);
        let replay = store
            .letters()
            .issue(new("h1"), T0, on_the_case(cast.worker.id))
            .await
            .unwrap();
        assert!(matches!(replay, IssueOutcome::Replayed(ref l) if *l == letter));
        let conflict = store
            .letters()
            .issue(new("h2"), T0, on_the_case(cast.worker.id))
            .await
            .unwrap();
        assert!(matches!(conflict, IssueOutcome::Conflict));
        let events = store.timeline().of_report(&whistled.id).await.unwrap();
        assert_eq!(
            events
                .iter()
                .filter(|e| e.kind == EventKind::SupervisionLetter)
                .count(),
            1,
            "a replay writes nothing"
        );
        // A second letter, due sooner, lists first.
        let sooner = LetterId::generate();
        let second = NewLetter {
            id: sooner,
            reply_due: T0.saturating_add(30 * MINUTE),
            ..new("h3")
        };
        store
            .letters()
            .issue(second, T0, on_the_case(cast.worker.id))
            .await
            .unwrap();
        let list = |filter: LetterFilter, after: Option<(Timestamp, LetterId)>| async move {
            store
                .letters()
                .list(&filter, after, 10)
                .await
                .unwrap()
                .into_iter()
                .map(|l| l.id)
                .collect::<Vec<_>>()
        };
        let all = LetterFilter::default();
        assert_eq!(list(all.clone(), None).await, [sooner, id]);
        let after_first = Some((T0.saturating_add(30 * MINUTE), sooner));
        assert_eq!(list(all.clone(), after_first).await, [id]);
        let elsewhere = LetterFilter {
            department: Some(DepartmentId::parse("elsewhere").unwrap()),
            ..LetterFilter::default()
        };
        assert!(list(elsewhere, None).await.is_empty());
        let answer = |reply: &str| {
            store.letters().answer(
                id,
                reply.to_owned(),
                cast.officer.id,
                T0,
                None,
                |_: &gridwhistle_server::model::LetterRecord, _: &[ReportRecord]| {
                    Ok::<_, ()>(Vec::new())
                },
            )
        };
        let answered = answer("已办结").await.unwrap();
        assert!(
            matches!(answered, AnswerOutcome::Answered(ref l) if l.reply.as_deref() == Some("已办结"))
        );
        let unanswered = LetterFilter {
            department: Some(cast.department.clone()),
            unanswered_only: true,
        };
        assert_eq!(list(unanswered, None).await, [sooner]);
        let listed = store.letters().list(&all, None, 10).await.unwrap();
        assert_eq!(
            listed[1].cases,
            vec![case_of(&whistled)],
            "a listed letter has its cases"
        );
        let twice = answer("再答").await.unwrap();
        assert!(
            matches!(twice, AnswerOutcome::AlreadyAnswered(ref l) if l.reply.as_deref() == Some("已办结"))
        );
        assert!(matches!(
            store.letters().get(&LetterId::generate()).await,
            Err(StorageError::NotFound { .. })
        ));
    }

    pub(super) async fn outbox_deliveries_are_claimed_settled_retried_and_dead_lettered(
        store: &Store,
        backend: Backend,
    ) {
        let cast = cast(store).await;
        store
            .devices()
            .register(&cast.officer.id, device("phone-1", "token-1"), T0)
            .await
            .unwrap();
        whistle(store, &cast, &file(store, &cast, T0).await, T0).await;
        let outbox = store.outbox();
        let lease = T0.saturating_add(MINUTE);
        let stale = T0.saturating_sub(3600 * 1000 * MINUTE / 1000);
        let taken = outbox
            .take("a", T0, lease, stale, &[Channel::Fcm], 10)
            .await
            .unwrap();
        assert_eq!(taken.len(), 1, "one delivery: the officer's phone");
        assert_eq!(taken[0].device, "phone-1");
        assert_eq!(taken[0].message.token, "token-1");
        assert!(
            outbox
                .take("b", T0, lease, stale, &[Channel::Fcm], 10)
                .await
                .unwrap()
                .is_empty(),
            "a claimed notification is not taken twice"
        );
        assert!(
            outbox
                .take("b", T0, lease, stale, &[Channel::Huawei], 10)
                .await
                .unwrap()
                .is_empty()
        );
        let retry_at = T0.saturating_add(2 * MINUTE);
        let notification = taken[0].message.notification.clone();
        outbox
            .settle(
                vec![(
                    taken[0].clone(),
                    Settlement::Retry {
                        at: retry_at,
                        reason: "503".to_owned(),
                    },
                )],
                vec![notification],
                T0,
            )
            .await
            .unwrap();
        assert_eq!(outbox.next_retry().await.unwrap(), Some(retry_at));
        assert!(
            outbox
                .take("a", T0, lease, stale, &[Channel::Fcm], 10)
                .await
                .unwrap()
                .is_empty()
        );
        let retries = outbox
            .take(
                "a",
                retry_at,
                retry_at.saturating_add(MINUTE),
                stale,
                &[Channel::Fcm],
                10,
            )
            .await
            .unwrap();
        assert_eq!(retries.len(), 1, "due again at its retry time");
        assert_eq!(retries[0].attempts, 1);
        outbox.release_claims("a").await.unwrap();
        let released = outbox
            .take(
                "b",
                retry_at,
                retry_at.saturating_add(MINUTE),
                stale,
                &[Channel::Fcm],
                10,
            )
            .await
            .unwrap();
        assert_eq!(released.len(), 1, "released claims are taken at once");
        outbox
            .settle(
                vec![(
                    released[0].clone(),
                    Settlement::Dead {
                        reason: "500 every time".to_owned(),
                    },
                )],
                Vec::new(),
                retry_at,
            )
            .await
            .unwrap();
        let dead = outbox.dead_letters(None, 10).await.unwrap();
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].attempts, 2);
        assert_eq!(dead[0].last_error.as_deref(), Some("500 every time"));
        assert!(
            outbox
                .dead_letters(Some(&dead[0].id), 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(outbox.next_retry().await.unwrap(), None);
        let counts = outbox.counts().await.unwrap();
        assert!(
            counts.contains(&("delivery:dead".to_owned(), 1)),
            "{counts:?} on {backend:?}"
        );
    }

    pub(super) async fn outbox_keeps_escalations_and_each_reports_rows(store: &Store, _: Backend) {
        let cast = cast(store).await;
        let whistled = whistle(store, &cast, &file(store, &cast, T0).await, T0).await;
        let department = cast.department.clone();
        let (escalated, _) = store
            .reports()
            .update(ReportKey::Report(whistled.id), None, T0, None, move |_| {
                Ok::<_, ()>(Effects {
                    events: vec![NewEvent {
                        kind: EventKind::Escalated,
                        actor: None,
                        department: Some(department.clone()),
                        text: "escalated".to_owned(),
                        attachments: Vec::new(),
                    }],
                    notifications: vec![NewNotification {
                        department: Some(department.clone()),
                        audience: "supervisors",
                        kind: NoticeKind::Escalation,
                        recipient: None,
                        stage: Some(DeadlineStage::ReportIn),
                        escalation_level: 2,
                        due_at: Some(T0),
                    }],
                    ..Effects::default()
                })
            })
            .await
            .unwrap();
        let escalation = store
            .outbox()
            .escalation_of(&whistled.id, escalated.version)
            .await
            .unwrap()
            .expect("the escalation's row");
        assert_eq!(escalation.case, case_of(&whistled));
        assert_eq!(escalation.escalation_level, 2);
        assert_eq!(escalation.audience, "supervisors");
        assert_eq!(
            store
                .outbox()
                .escalation_of(&whistled.id, whistled.version)
                .await
                .unwrap(),
            None,
            "the whistle's event was no escalation"
        );
        let rows = store.outbox().of_report(&whistled.id).await.unwrap();
        let kinds: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
        assert_eq!(kinds, vec!["case_assigned", "escalation"], "oldest first");
    }

    pub(super) async fn devices_register_move_between_users_and_unregister(
        store: &Store,
        _: Backend,
    ) {
        let cast = cast(store).await;
        let devices = store.devices();
        let first = devices
            .register(&cast.officer.id, device("phone-1", "token-1"), T0)
            .await
            .unwrap();
        assert!(first.active);
        assert_eq!(first.user, cast.officer.id);
        let again = devices
            .register(&cast.officer.id, device("phone-1", "token-1"), T0)
            .await
            .unwrap();
        assert_eq!(again.id, first.id, "idempotent on the device's id");
        let moved = devices
            .register(&cast.worker.id, device("phone-1", "token-1"), T0)
            .await
            .unwrap();
        assert_eq!(moved.user, cast.worker.id, "the installation changes hands");
        assert!(devices.of_user(&cast.officer.id).await.unwrap().is_empty());
        devices
            .register(&cast.worker.id, device("phone-2", "token-1"), T0)
            .await
            .unwrap();
        let mine = devices.of_user(&cast.worker.id).await.unwrap();
        let active: Vec<(&str, bool)> = mine.iter().map(|d| (d.id.as_str(), d.active)).collect();
        assert_eq!(
            active,
            vec![("phone-1", false), ("phone-2", true)],
            "another installation with the same token is deactivated"
        );
        assert!(matches!(
            devices.unregister(&cast.officer.id, "phone-2").await,
            Err(StorageError::NotFound { entity: "device" })
        ));
        devices
            .unregister(&cast.worker.id, "phone-2")
            .await
            .unwrap();
        assert_eq!(devices.of_user(&cast.worker.id).await.unwrap().len(), 1);
    }

    pub(super) async fn devices_inbox_lists_marks_and_follows_in_commit_order(
        store: &Store,
        _: Backend,
    ) {
        let cast = cast(store).await;
        for _ in 0..3 {
            whistle(store, &cast, &file(store, &cast, T0).await, T0).await;
        }
        let devices = store.devices();
        let scope = InboxScope::DutyOfficers(cast.department.clone());
        let officer = cast.officer.id;
        let (entries, unread) = devices
            .inbox(&officer, &scope, false, None, 2)
            .await
            .unwrap();
        assert_eq!((entries.len(), unread), (2, 3));
        assert!(
            entries[0].position.id > entries[1].position.id,
            "newest first"
        );
        let (older, _) = devices
            .inbox(&officer, &scope, false, Some(&entries[1].position.id), 10)
            .await
            .unwrap();
        assert_eq!(older.len(), 1);
        let nobody = devices
            .inbox(&officer, &InboxScope::Nobody, false, None, 10)
            .await
            .unwrap();
        assert_eq!((nobody.0.len(), nobody.1), (0, 0));
        let marked = devices
            .mark_read(
                &officer,
                &scope,
                vec![entries[0].position.id.clone(), "not-mine".to_owned()],
                None,
                T0,
            )
            .await
            .unwrap();
        assert_eq!(marked, 1, "an id outside the inbox is ignored");
        let (unread_only, unread) = devices
            .inbox(&officer, &scope, true, None, 10)
            .await
            .unwrap();
        assert_eq!((unread_only.len(), unread), (2, 2));
        let rest = devices
            .mark_read(
                &officer,
                &scope,
                Vec::new(),
                Some(T0.saturating_add(MINUTE)),
                T0,
            )
            .await
            .unwrap();
        assert_eq!(rest, 2);
        assert_eq!(
            devices
                .inbox(&officer, &scope, true, None, 10)
                .await
                .unwrap()
                .1,
            0
        );
        let start = InboxPosition::default();
        let followed = settled(3, || async {
            devices.inbox_after(&scope, &start, 10).await.unwrap()
        })
        .await;
        assert_eq!(followed.len(), 3);
        let positions: Vec<&InboxPosition> = followed.iter().map(|e| &e.position).collect();
        assert!(
            positions
                .windows(2)
                .all(|w| (w[0].event, &w[0].id) < (w[1].event, &w[1].id)),
            "commit order"
        );
        let after = devices.inbox_after(&scope, positions[0], 10).await.unwrap();
        assert_eq!(after.len(), 2, "resumes after a cursor");
    }

    pub(super) async fn directory_replayed_families_bump_token_generations(
        store: &Store,
        _: Backend,
    ) {
        let cast = cast(store).await;
        let directory = store.directory();
        let user = cast.worker.id;
        directory
            .insert_refresh_token(NewRefreshToken {
                id: "t1".to_owned(),
                family_id: "f1".to_owned(),
                user_id: user,
                secret_sha256: format!("{:0>64}", 1),
                issued_at: T0,
                expires_at: T0.saturating_add(60 * MINUTE),
            })
            .await
            .unwrap();
        assert!(
            directory
                .token_generations_since(T0)
                .await
                .unwrap()
                .is_empty()
        );
        let later = T0.saturating_add(MINUTE);
        let generation = directory
            .revoke_replayed_family("f1", &user, later)
            .await
            .unwrap();
        assert!(generation > cast.worker.token_generation);
        assert!(
            directory
                .find_refresh_token("t1")
                .await
                .unwrap()
                .unwrap()
                .revoked_at
                .is_some()
        );
        assert_eq!(
            directory.token_generations_since(later).await.unwrap(),
            vec![(user, generation)]
        );
        assert!(
            directory
                .token_generations_since(later.saturating_add(MINUTE))
                .await
                .unwrap()
                .is_empty()
        );
    }

    pub(super) async fn boundaries_routing_versions_move_with_imports(store: &Store, _: Backend) {
        let boundaries = store.boundaries();
        let before = boundaries.routing_versions().await.unwrap();
        boundaries.import_catalogue(&[], T0).await.unwrap();
        let after = boundaries.routing_versions().await.unwrap();
        assert_ne!(
            before, after,
            "a catalogue import moves the versions routing compares"
        );
        assert_eq!(
            boundaries.routing_versions().await.unwrap(),
            after,
            "reading moves nothing"
        );
    }

    pub(super) async fn reports_facts_rebuild_from_the_timeline_and_name_what_differed(
        store: &Store,
        _: Backend,
    ) {
        let cast = cast(store).await;
        let reports = store.reports();
        let filed = file(store, &cast, T0).await;
        let record = whistle(store, &cast, &filed, T0).await;
        assert_eq!(
            reports.whistled_after(None, 10).await.unwrap(),
            vec![record.id]
        );
        assert!(
            reports
                .whistled_after(Some(&record.id), 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            reports.facts_unbuilt(10).await.unwrap().is_empty(),
            "a share written by a step has its facts built"
        );
        let stored = reports.stored_facts(&[record.id]).await.unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(
            (
                stored[0].report_in_due,
                stored[0].finish_due,
                stored[0].escalations
            ),
            (Some(T0.saturating_add(30 * MINUTE)), None, 0),
            "the deadlines' facts follow the deadline rows"
        );
        // A change that claims a completion its timeline does not hold.
        let actor = cast.officer.id;
        reports
            .update(ReportKey::Report(record.id), None, T0, None, move |r| {
                r.assignments[0].facts.completions = 7;
                Ok::<_, std::convert::Infallible>(Effects {
                    events: vec![event(EventKind::Progress, actor, "进展")],
                    ..Effects::default()
                })
            })
            .await
            .unwrap();
        let count_completions = |r: &mut ReportRecord,
                                 timeline: &[gridwhistle_server::model::EventRecord],
                                 _: &[ExtensionRecord]| {
            let done = timeline
                .iter()
                .filter(|e| e.kind == EventKind::Completed)
                .count();
            r.assignments[0].facts.completions = u32::try_from(done).unwrap();
        };
        let (shares, differ) = reports
            .rebuild_facts(vec![record.id], count_completions)
            .await
            .unwrap();
        assert_eq!(shares, 1);
        assert_eq!(differ.len(), 1);
        assert_eq!(
            (
                differ[0].stored.facts.completions,
                differ[0].rebuilt.facts.completions
            ),
            (7, 0)
        );
        let (_, again) = reports
            .rebuild_facts(vec![record.id], count_completions)
            .await
            .unwrap();
        assert!(again.is_empty(), "a second rebuild finds nothing to change");
        assert_eq!(
            reports.stored_facts(&[record.id]).await.unwrap()[0].facts,
            AssignmentFacts::default()
        );
    }

    pub(super) async fn stats_count_shares_areas_and_shortfalls_over_a_period(
        store: &Store,
        _: Backend,
    ) {
        use gridwhistle_server::model::{AreaGroup, Period, ShareGroup, ShortfallKind};
        let cast = cast(store).await;
        let record = filed_and_whistled(store, &cast, "h").await;
        let stats = store.stats();
        let day = Period {
            start: T0,
            end: T0.saturating_add(Duration::from_secs(86_400)),
        };
        let before = Period {
            start: T0
                .saturating_add(Duration::from_secs(0))
                .saturating_sub(Duration::from_secs(86_400)),
            end: T0,
        };
        let an_hour_on = T0.saturating_add(60 * MINUTE);
        let counts = stats
            .share_counts(ShareGroup::Department, None, day, T0)
            .await
            .unwrap();
        assert_eq!(counts.len(), 1);
        let c = &counts[0];
        assert_eq!(
            (c.key.as_str(), c.assignments, c.reported_in_on_time, c.led),
            ("police-jw", 1, 0, 1)
        );
        assert_eq!((c.open_now, c.overdue_now), (0, 0), "counted apart");
        let open = stats
            .open_counts(ShareGroup::Department, None, T0)
            .await
            .unwrap();
        assert_eq!(
            open.iter()
                .map(|c| (c.key.as_str(), c.open_now, c.overdue_now))
                .collect::<Vec<_>>(),
            [("police-jw", 1, 0)]
        );
        let later = stats
            .open_counts(ShareGroup::Department, Some(&cast.department), an_hour_on)
            .await
            .unwrap();
        assert_eq!(later[0].overdue_now, 1, "past the report-in due time");
        let elsewhere = DepartmentId::parse("fire-jw").unwrap();
        assert!(
            stats
                .open_counts(ShareGroup::Category, Some(&elsewhere), T0)
                .await
                .unwrap()
                .is_empty(),
            "another department's open shares are not counted"
        );
        let outside = stats
            .share_counts(ShareGroup::Category, None, before, T0)
            .await
            .unwrap();
        assert!(
            outside.iter().all(|c| c.assignments == 0),
            "the day before holds no share: {outside:?}"
        );
        let streets = stats.area_counts(AreaGroup::Street, day).await.unwrap();
        assert_eq!(streets.len(), 1);
        assert_eq!(
            (
                streets[0].key.as_str(),
                streets[0].filed,
                streets[0].whistled
            ),
            ("建外街道", 1, 1)
        );
        assert!(
            stats
                .area_counts(AreaGroup::Grid, before)
                .await
                .unwrap()
                .is_empty()
        );
        let late = |now| {
            stats.shortfalls(
                &cast.department,
                day,
                ShortfallKind::LateReportIn,
                now,
                None,
                10,
            )
        };
        assert!(late(T0).await.unwrap().is_empty(), "not due yet");
        let listed = late(an_hour_on).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].report, record.id);
        assert_eq!(
            listed[0].report_in_due,
            Some(T0.saturating_add(30 * MINUTE))
        );
    }

    pub(super) async fn stats_rollups_are_built_once_kept_with_each_change_and_equal_the_facts(
        store: &Store,
        _: Backend,
    ) {
        use gridwhistle_server::model::{Period, ShareGroup};
        let beijing = 8 * 3_600_000;
        let cast = cast(store).await;
        filed_and_whistled(store, &cast, "r1").await;
        let stats = store.stats();
        // T0 is 09:00 in Beijing: its day there, and that day in UTC.
        let midnight = T0.as_unix_millis() - 9 * 3_600_000;
        let day = |start: i64| Period {
            start: Timestamp::from_unix_millis(start),
            end: Timestamp::from_unix_millis(start + 86_400_000),
        };
        let both = |period: Period, now: Timestamp| async move {
            let rolled = store
                .stats()
                .share_counts(ShareGroup::Department, None, period, now)
                .await
                .unwrap();
            let counted = store
                .stats()
                .share_counts_from_facts(ShareGroup::Department, None, period, now)
                .await
                .unwrap();
            assert_eq!(rolled, counted, "{period:?} at {now:?}");
            rolled
        };
        let built = stats.ensure_rollups(beijing).await.unwrap().unwrap();
        assert!(built.counts > 0, "the share filed before counts: {built:?}");
        assert_eq!(built.differed, 0);
        assert_eq!(
            stats.ensure_rollups(beijing).await.unwrap(),
            None,
            "built once"
        );
        // A change after the build is kept in the rollups by its own transaction.
        filed_and_whistled(store, &cast, "r2").await;
        let counted = both(day(midnight), T0).await;
        assert_eq!(counted[0].assignments, 2);
        both(
            day(midnight),
            T0.saturating_add(Duration::from_secs(2 * 86_400)),
        )
        .await;
        both(day(midnight + 86_400_000), T0).await;
        let again = stats.rebuild_rollups(beijing).await.unwrap();
        assert_eq!(
            (again.counts, again.differed),
            (built.counts, 0),
            "the same day's counts, each one more: {again:?}"
        );
        // Days in another zone: Beijing's days are no longer whole days of the rollups, and the facts answer them.
        let utc = stats.ensure_rollups(0).await.unwrap().unwrap();
        assert_eq!(utc.differed, 0, "nothing to compare across zones");
        assert_eq!(both(day(midnight), T0).await[0].assignments, 2);
        assert_eq!(
            both(day(T0.as_unix_millis() - 3_600_000), T0).await[0].assignments,
            2
        );
    }

    pub(super) async fn ledger_entries_open_once_change_under_their_version_and_list_by_urgency(
        store: &Store,
        _: Backend,
    ) {
        use gridwhistle_domain::RiskGrade;
        use gridwhistle_domain::ledger::{LedgerEventKind, StepState};
        use gridwhistle_server::model::{
            DeadlineState, LedgerEntryRecord, LedgerFilter, LedgerOpenOutcome, LedgerPosition,
            LedgerReader, LedgerStepRecord, LinkedCase, NewLedgerEvent, StepDeadlineChange,
        };
        let cast = cast(store).await;
        let record = filed_and_whistled(store, &cast, "l").await;
        let day = Duration::from_secs(86_400);
        let step = |number: u32, days: u32| LedgerStepRecord {
            number,
            department: cast.department.clone(),
            description: format!("第{number}步"),
            due_at: T0.saturating_add(day * days),
            state: StepState::Open,
            revision: 1,
            done_at: None,
            done_by: None,
            result: None,
            attachments: Vec::new(),
        };
        let entry = |grade: RiskGrade, case: Option<LinkedCase>, steps: Vec<LedgerStepRecord>| {
            ledger_entry(&cast, grade, case, steps)
        };
        let opened = |kind| NewLedgerEvent {
            kind,
            actor: Some(cast.officer.id),
            text: "opened".to_owned(),
        };
        let linked = LinkedCase {
            report: record.id,
            case: record.case.as_ref().unwrap().id,
            reporter: cast.worker.id,
        };
        let ledger = store.ledger();
        let first = entry(
            RiskGrade::B,
            Some(linked.clone()),
            vec![step(1, 3), step(2, 5)],
        );
        let start = |number: u32, days: u32| StepDeadlineChange::Start {
            step: number,
            department: cast.department.clone(),
            policy_version: 1,
            started_at: T0,
            due_at: T0.saturating_add(day * days),
            next_fire_at: Some(T0.saturating_add(day)),
        };
        let Ok(LedgerOpenOutcome::Opened(stored)) = ledger
            .open(
                first.clone(),
                opened(LedgerEventKind::Opened),
                vec![start(1, 3), start(2, 5)],
            )
            .await
        else {
            panic!("the entry opens");
        };
        assert_eq!(*stored, first);
        let again = ledger
            .open(
                first.clone(),
                opened(LedgerEventKind::Opened),
                vec![start(1, 3), start(2, 5)],
            )
            .await;
        assert!(
            matches!(again, Ok(LedgerOpenOutcome::Existing(ref e)) if **e == first),
            "{again:?}"
        );
        let same_case = entry(RiskGrade::C, Some(linked), Vec::new());
        assert!(matches!(
            ledger
                .open(same_case, opened(LedgerEventKind::Opened), Vec::new())
                .await,
            Err(StorageError::AlreadyExists { .. })
        ));
        let red = entry(RiskGrade::A, None, vec![step(1, 9)]);
        let blue = entry(RiskGrade::C, None, Vec::new());
        for e in [&red, &blue] {
            ledger
                .open(e.clone(), opened(LedgerEventKind::Opened), Vec::new())
                .await
                .unwrap();
        }
        assert_eq!(ledger.get(&first.id).await.unwrap().as_ref(), Some(&first));

        let mut changed = first.clone();
        changed.steps[0].state = StepState::Done;
        changed.steps[0].done_at = Some(T0);
        changed.version = 2;
        changed.updated_at = T0.saturating_add(day);
        let done = NewLedgerEvent {
            kind: LedgerEventKind::StepCompleted,
            actor: Some(cast.officer.id),
            text: "第1步完成".to_owned(),
        };
        let satisfy = vec![StepDeadlineChange::Satisfy { step: 1 }];
        ledger
            .update(changed.clone(), 1, vec![done.clone()], satisfy.clone())
            .await
            .unwrap();
        assert!(matches!(
            ledger.update(changed.clone(), 1, vec![done], satisfy).await,
            Err(UpdateError::Stale)
        ));
        let deadlines = ledger.step_deadlines(&first.id).await.unwrap();
        assert_eq!(
            deadlines
                .iter()
                .map(|d| (
                    d.step,
                    d.deadline.state,
                    d.deadline.stage,
                    d.deadline.satisfied_at
                ))
                .collect::<Vec<_>>(),
            [
                (
                    1,
                    DeadlineState::Satisfied,
                    DeadlineStage::LedgerStep,
                    Some(changed.updated_at)
                ),
                (2, DeadlineState::Pending, DeadlineStage::LedgerStep, None),
            ]
        );
        assert_eq!(ledger.get(&first.id).await.unwrap(), Some(changed.clone()));
        let timeline = ledger.timeline(&first.id).await.unwrap();
        assert_eq!(
            timeline
                .iter()
                .map(|e| (e.sequence, e.kind))
                .collect::<Vec<_>>(),
            [
                (1, LedgerEventKind::Opened),
                (2, LedgerEventKind::StepCompleted)
            ]
        );

        // Most urgent grade first, then the nearest open step, in pages.
        let all = LedgerFilter::new(LedgerReader::All);
        let ids = |page: &[LedgerEntryRecord]| page.iter().map(|e| e.id).collect::<Vec<_>>();
        let listed = ledger.list(&all, None, 10).await.unwrap();
        assert_eq!(ids(&listed), [red.id, first.id, blue.id]);
        let after = LedgerPosition {
            grade: RiskGrade::A,
            next_due_ms: red.next_due().unwrap().as_unix_millis(),
            id: red.id,
        };
        let rest = ledger.list(&all, Some(&after), 1).await.unwrap();
        assert_eq!(ids(&rest), [first.id]);
        let overdue = LedgerFilter {
            overdue_at: Some(T0.saturating_add(day * 6)),
            ..LedgerFilter::new(LedgerReader::All)
        };
        assert_eq!(
            ids(&ledger.list(&overdue, None, 10).await.unwrap()),
            [first.id]
        );
        let reporter = LedgerFilter::new(LedgerReader::Reporter(cast.worker.id));
        assert_eq!(
            ids(&ledger.list(&reporter, None, 10).await.unwrap()),
            [first.id]
        );
        let elsewhere = LedgerFilter::new(LedgerReader::Department(
            DepartmentId::parse("fire-jw").unwrap(),
        ));
        assert!(ledger.list(&elsewhere, None, 10).await.unwrap().is_empty());
        let counts = ledger
            .counts(&LedgerReader::All, None, T0.saturating_add(day * 10))
            .await
            .unwrap();
        assert_eq!(
            (counts.red, counts.yellow, counts.blue, counts.overdue),
            (1, 1, 1, 2)
        );
    }

    pub(super) async fn interviews_are_recorded_once_and_listed_by_department_and_period(
        store: &Store,
        _: Backend,
    ) {
        use gridwhistle_domain::{InterviewId, LetterId};
        use gridwhistle_server::model::{InterviewFilter, InterviewRecord};
        let cast = cast(store).await;
        let hour = Duration::from_secs(3600);
        let interview = |hours: u32, hash: &str| InterviewRecord {
            id: InterviewId::parse(&uuid::Uuid::new_v4().to_string()).unwrap(),
            department: cast.department.clone(),
            person: "所长".to_owned(),
            reason: "督办未回复".to_owned(),
            letters: vec![LetterId::parse(&uuid::Uuid::new_v4().to_string()).unwrap()],
            entries: Vec::new(),
            outcome: "限期整改".to_owned(),
            interviewer: cast.officer.id,
            held_at: T0.saturating_add(hour * hours),
            created_at: T0,
            request_hash: hash.to_owned(),
        };
        let interviews = store.interviews();
        let first = interview(1, "a");
        assert_eq!(interviews.record(first.clone()).await.unwrap(), first);
        let retried = InterviewRecord {
            request_hash: "b".to_owned(),
            ..first.clone()
        };
        assert_eq!(
            interviews.record(retried).await.unwrap(),
            first,
            "the stored interview answers a repeat of its id"
        );
        let second = interview(5, "c");
        interviews.record(second.clone()).await.unwrap();
        let mine = InterviewFilter {
            department: Some(cast.department.clone()),
            ..InterviewFilter::default()
        };
        let ids = |page: Vec<InterviewRecord>| page.into_iter().map(|i| i.id).collect::<Vec<_>>();
        assert_eq!(
            ids(interviews.list(&mine, None, 10).await.unwrap()),
            [second.id, first.id]
        );
        assert_eq!(
            ids(interviews
                .list(&mine, Some((second.held_at, second.id)), 10)
                .await
                .unwrap()),
            [first.id]
        );
        let early = InterviewFilter {
            until: Some(T0.saturating_add(hour * 2)),
            ..InterviewFilter::default()
        };
        assert_eq!(
            ids(interviews.list(&early, None, 10).await.unwrap()),
            [first.id]
        );
        let elsewhere = InterviewFilter {
            department: Some(DepartmentId::parse("fire-jw").unwrap()),
            ..InterviewFilter::default()
        };
        assert!(
            interviews
                .list(&elsewhere, None, 10)
                .await
                .unwrap()
                .is_empty()
        );
    }

    pub(super) async fn meetings_are_called_once_with_their_agenda_and_each_item_decided_once(
        store: &Store,
        _: Backend,
    ) {
        use gridwhistle_domain::MeetingId;
        use gridwhistle_domain::ledger::AgendaReason;
        use gridwhistle_server::model::{
            AgendaSubject, MeetingDecision, MeetingItemRecord, MeetingRecord,
        };
        let cast = cast(store).await;
        let record = filed_and_whistled(store, &cast, "m").await;
        let meeting = MeetingRecord {
            id: MeetingId::parse(&uuid::Uuid::new_v4().to_string()).unwrap(),
            month: "2026-03".to_owned(),
            title: "联席会议".to_owned(),
            created_by: cast.officer.id,
            created_at: T0,
            request_hash: "h".to_owned(),
            items: vec![MeetingItemRecord {
                number: 1,
                subject: AgendaSubject::Case {
                    report: record.id,
                    case: record.case.as_ref().unwrap().id,
                },
                reasons: vec![AgendaReason::ReturnedByAll],
                detail: "returned by police-jw".to_owned(),
                decision: None,
            }],
        };
        let meetings = store.meetings();
        assert_eq!(meetings.create(meeting.clone()).await.unwrap(), meeting);
        let again = MeetingRecord {
            request_hash: "other".to_owned(),
            items: Vec::new(),
            ..meeting.clone()
        };
        assert_eq!(
            meetings.create(again).await.unwrap(),
            meeting,
            "the stored meeting answers a repeat of its id"
        );
        assert_eq!(
            meetings.get(&meeting.id).await.unwrap(),
            Some(meeting.clone())
        );
        assert_eq!(
            meetings.of_month("2026-03").await.unwrap(),
            std::slice::from_ref(&meeting)
        );
        assert!(meetings.of_month("2026-04").await.unwrap().is_empty());
        let decision = MeetingDecision {
            lead: cast.department.clone(),
            assists: Vec::new(),
            text: "维持".to_owned(),
            decided_by: cast.officer.id,
            decided_at: T0,
        };
        assert!(
            meetings
                .decide(&meeting.id, 1, decision.clone())
                .await
                .unwrap()
        );
        assert!(
            !meetings
                .decide(&meeting.id, 1, decision.clone())
                .await
                .unwrap(),
            "decided once"
        );
        let stored = meetings.get(&meeting.id).await.unwrap().unwrap();
        assert_eq!(stored.items[0].decision, Some(decision));
    }

    pub(super) async fn ledger_step_deadlines_are_claimed_and_fired_onto_their_entry_once(
        store: &Store,
        _: Backend,
    ) {
        use gridwhistle_domain::ledger::{LedgerEventKind, StepState};
        use gridwhistle_domain::{DeadlineSubject, RiskGrade};
        use gridwhistle_server::model::{
            DeadlineState, LedgerStepRecord, NewLedgerEvent, StepDeadlineChange,
        };
        use gridwhistle_server::storage::StepFiring;
        let cast = cast(store).await;
        let leader = store
            .directory()
            .create_user(
                NewUser {
                    id: UserId::generate(),
                    username: Username::parse("leader").unwrap(),
                    display_name: DisplayName::parse("区领导").unwrap(),
                    binding: Binding::DistrictLeader,
                    password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
                },
                T0,
            )
            .await
            .unwrap();
        let day = Duration::from_secs(86_400);
        let due_at = T0.saturating_add(day * 2);
        let mut entry = ledger_entry(
            &cast,
            RiskGrade::A,
            None,
            vec![LedgerStepRecord {
                number: 1,
                department: cast.department.clone(),
                description: "约见当事人".to_owned(),
                due_at,
                state: StepState::Open,
                revision: 1,
                done_at: None,
                done_by: None,
                result: None,
                attachments: Vec::new(),
            }],
        );
        entry.leader = Some(leader.id);
        let ledger = store.ledger();
        let opened = NewLedgerEvent {
            kind: LedgerEventKind::Opened,
            actor: Some(cast.officer.id),
            text: "opened".to_owned(),
        };
        let start = StepDeadlineChange::Start {
            step: 1,
            department: cast.department.clone(),
            policy_version: 1,
            started_at: T0,
            due_at,
            next_fire_at: Some(T0.saturating_add(day)),
        };
        ledger
            .open(entry.clone(), opened, vec![start])
            .await
            .unwrap();

        // The engine claims it beside the cases' deadlines, as a step of its entry.
        let now = T0.saturating_add(day);
        let lease = Lease {
            owner: "a",
            until: now.saturating_add(MINUTE),
        };
        let due = store
            .deadlines()
            .claim_due(lease, now, now, None, 10)
            .await
            .unwrap();
        assert_eq!(due.len(), 1);
        let seen = due[0].clone();
        assert_eq!(
            (seen.subject, seen.stage, seen.fire_at, seen.due_at),
            (
                DeadlineSubject::LedgerStep {
                    entry: entry.id,
                    step: 1
                },
                DeadlineStage::LedgerStep,
                now,
                due_at
            )
        );
        // Supervisors' list of overdue case deadlines leaves it out.
        let late = T0.saturating_add(day * 3);
        assert!(
            store
                .deadlines()
                .list_overdue(late, &OverdueFilter::default(), None, 10)
                .await
                .unwrap()
                .is_empty()
        );

        let firing = StepFiring {
            step: 1,
            deadline: seen.id,
            fired_step: 0,
            next_fire_at: Some(late),
            escalation_level: 1,
            event: Some(NewLedgerEvent {
                kind: LedgerEventKind::Escalated,
                actor: None,
                text: "step 1 escalated".to_owned(),
            }),
            notifications: vec![NewNotification {
                department: Some(cast.department.clone()),
                audience: "district_leader",
                kind: NoticeKind::Escalation,
                recipient: Some(leader.id),
                stage: Some(DeadlineStage::LedgerStep),
                escalation_level: 1,
                due_at: Some(due_at),
            }],
        };
        // A stream that started before the firing follows it in commit order.
        let from = InboxPosition {
            event: store.timeline().horizon().await.unwrap(),
            id: "~".to_owned(),
        };
        let fire = |firing: StepFiring| {
            ledger.append_firings(vec![(entry.id, seen.id)], now, move |targets| {
                Ok::<_, std::convert::Infallible>((
                    vec![(targets[0].entry, firing)],
                    targets.to_vec(),
                ))
            })
        };
        let targets = fire(firing.clone()).await.unwrap();
        assert_eq!(
            (
                targets.len(),
                targets[0].version,
                targets[0].grade,
                targets[0].leader
            ),
            (1, 1, RiskGrade::A, Some(leader.id))
        );
        assert_eq!(targets[0].deadlines[0].deadline.next_step, 0);
        // Fired once: the same firing again finds the deadline moved on and writes nothing.
        assert!(matches!(fire(firing).await, Err(UpdateError::Stale)));
        let stored = ledger.get(&entry.id).await.unwrap().unwrap();
        assert_eq!(stored.version, 2);
        let kinds: Vec<_> = ledger
            .timeline(&entry.id)
            .await
            .unwrap()
            .iter()
            .map(|e| e.kind)
            .collect();
        assert_eq!(kinds, [LedgerEventKind::Opened, LedgerEventKind::Escalated]);
        let deadline = &ledger.step_deadlines(&entry.id).await.unwrap()[0].deadline;
        assert_eq!(
            (
                deadline.next_step,
                deadline.next_fire_at,
                deadline.escalation_level,
                deadline.state
            ),
            (1, Some(late), 1, DeadlineState::Pending)
        );

        // The named leader's inbox holds it, about the entry; the supervisors' does not.
        let (inbox, unread) = store
            .devices()
            .inbox(&leader.id, &InboxScope::Leader(leader.id), false, None, 10)
            .await
            .unwrap();
        assert_eq!(unread, 1);
        assert_eq!(
            inbox
                .iter()
                .map(|e| (e.kind, e.subject.clone()))
                .collect::<Vec<_>>(),
            [(
                NoticeKind::Escalation,
                format!("ledgerEntries/{}", entry.id)
            )]
        );
        let (theirs, _) = store
            .devices()
            .inbox(&cast.officer.id, &InboxScope::Supervisors, false, None, 10)
            .await
            .unwrap();
        assert!(theirs.is_empty());
        let leaders = InboxScope::Leader(leader.id);
        // PostgreSQL shows it once every transaction older than it has ended.
        let streamed = settled(1, || async {
            store
                .devices()
                .inbox_after(&leaders, &from, 10)
                .await
                .unwrap()
        })
        .await;
        assert_eq!(
            streamed
                .iter()
                .map(|e| e.position.id.clone())
                .collect::<Vec<_>>(),
            [inbox[0].position.id.clone()]
        );
        assert_eq!(streamed[0].position, inbox[0].position);
        assert!(
            store
                .devices()
                .inbox_after(&leaders, &streamed[0].position, 10)
                .await
                .unwrap()
                .is_empty()
        );
    }

    pub(super) async fn gauges_count_open_and_overdue_shares_and_the_outbox_backlog(
        store: &Store,
        _backend: Backend,
    ) {
        let cast = cast(store).await;
        let gauges = store.gauges();
        assert_eq!(
            gauges.read(T0).await.unwrap(),
            gridwhistle_server::storage::GaugeReading::default()
        );
        store
            .devices()
            .register(&cast.officer.id, device("phone-1", "token-1"), T0)
            .await
            .unwrap();
        whistle(store, &cast, &file(store, &cast, T0).await, T0).await;
        let open = |overdue| gridwhistle_server::storage::ShareCount {
            department: cast.department.to_string(),
            stage: "summoned".to_owned(),
            open: 1,
            overdue,
        };
        let now = gauges.read(T0).await.unwrap();
        assert_eq!(now.shares, [open(0)]);
        assert_eq!(now.unsent_notifications, 1, "the whistle's notice");
        assert_eq!((now.queued_deliveries, now.dead_letters), (0, 0));
        // Past the report-in limit (30 minutes) the share is overdue.
        let later = gauges.read(T0.saturating_add(31 * MINUTE)).await.unwrap();
        assert_eq!(later.shares, [open(1)]);
        // The notice pushed once, failed and given up on: a dead letter, nothing left to send.
        let outbox = store.outbox();
        let lease = T0.saturating_add(MINUTE);
        let taken = outbox
            .take(
                "a",
                T0,
                lease,
                T0.saturating_sub(MINUTE),
                &[Channel::Fcm],
                10,
            )
            .await
            .unwrap();
        let notification = taken[0].message.notification.clone();
        let dead = Settlement::Dead {
            reason: "400".to_owned(),
        };
        outbox
            .settle(vec![(taken[0].clone(), dead)], vec![notification], T0)
            .await
            .unwrap();
        let settled = gauges.read(T0).await.unwrap();
        assert_eq!(settled.unsent_notifications, 0);
        assert_eq!((settled.queued_deliveries, settled.dead_letters), (0, 1));
        let (in_use, idle) = gauges.pool();
        assert!(in_use + idle >= 1, "the pool holds a connection");
    }
}
