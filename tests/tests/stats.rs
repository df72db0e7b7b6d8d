//! The figures (KPIs) end to end on the manual clock: a scripted month of reports and cases over two streets and several departments, every figure's count pair and the ranking asserted, the facts rebuilt from the event log and found equal, the exports read back.

use std::collections::BTreeMap;
use std::time::Duration;

use gridwhistle_dispatcher::Clock as _;
use gridwhistle_proto::v1;
use gridwhistle_server::model::working_bucket_span;
use gridwhistle_tests::database::backends;
use gridwhistle_tests::district::{District, duty_officer, point_in_grid, report_at};
use tonic::Code;

const J: &str = "g-jianwai-1-01";
const H: &str = "g-hujialou-2-02";

fn worker(grid: &str) -> String {
    format!("worker.{grid}")
}

fn month(m: &str) -> Option<v1::StatsPeriod> {
    Some(v1::StatsPeriod {
        period: Some(v1::stats_period::Period::Month(m.to_owned())),
    })
}

fn millis(t: &Option<prost_types::Timestamp>) -> i64 {
    let t = t.as_ref().expect("a time");
    t.seconds * 1000 + i64::from(t.nanos / 1_000_000)
}

/// The loop's steps as the script takes them, each as its party.
struct Script<'a> {
    d: &'a District,
    /// Minutes since the cached tokens were issued.
    aged: std::sync::atomic::AtomicU64,
}

impl Script<'_> {
    /// Moves the clock on; past a few minutes the cached tokens have expired.
    async fn advance(&self, minutes: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        self.d.app.clock.advance(Duration::from_secs(minutes * 60));
        if self.aged.fetch_add(minutes, Relaxed) + minutes > 5 {
            self.d.forget_tokens().await;
            self.aged.store(0, Relaxed);
        }
    }

    fn now_ms(&self) -> i64 {
        self.d.app.clock.now().as_unix_millis()
    }

    async fn file(&self, grid: &str, category: &str) -> v1::Report {
        self.advance(1).await;
        let (lat, lng) = point_in_grid(grid);
        let mut report = report_at(lat, lng, category);
        report.observe_time = Some(prost_types::Timestamp {
            seconds: self.now_ms() / 1000 - 600,
            nanos: 0,
        });
        self.d.file(&worker(grid), report).await
    }

    /// Files and whistles a report; answers the case.
    async fn case(&self, grid: &str, category: &str) -> (v1::Report, v1::Case) {
        let report = self.file(grid, category).await;
        self.advance(1).await;
        let case = self
            .d
            .whistle(
                &worker(grid),
                &report.name,
                v1::WhistleKind::Routine,
                v1::RiskGrade::Unspecified,
            )
            .await;
        (report, case)
    }

    async fn cases(
        &self,
        department: &str,
    ) -> v1::case_service_client::CaseServiceClient<gridwhistle_tests::Authed> {
        self.d
            .app
            .cases(&self.d.token(&duty_officer(department)).await)
    }

    async fn report_in(&self, department: &str, case: &v1::Case) {
        self.advance(1).await;
        self.cases(department)
            .await
            .report_in(v1::ReportInRequest {
                name: case.name.clone(),
                ..Default::default()
            })
            .await
            .expect("the department reports in");
    }

    async fn complete(&self, department: &str, case: &v1::Case) {
        self.advance(1).await;
        self.cases(department)
            .await
            .complete_case(v1::CompleteCaseRequest {
                name: case.name.clone(),
                result: "已处理".to_owned(),
                ..Default::default()
            })
            .await
            .expect("the department completes");
    }

    async fn return_case(&self, department: &str, case: &v1::Case) -> v1::Case {
        self.advance(1).await;
        self.cases(department)
            .await
            .return_case(v1::ReturnCaseRequest {
                name: case.name.clone(),
                reason: "不属于本单位".to_owned(),
                ..Default::default()
            })
            .await
            .expect("the department returns the case")
            .into_inner()
            .case
            .unwrap()
    }

    async fn verify(&self, grid: &str, report: &v1::Report, satisfaction: Option<i32>) {
        self.advance(1).await;
        let token = self.d.token(&worker(grid)).await;
        self.d
            .app
            .reports(&token)
            .verify_resolution(v1::VerifyResolutionRequest {
                name: report.name.clone(),
                accepted: satisfaction.is_some(),
                satisfaction: satisfaction.unwrap_or_default(),
                reason: if satisfaction.is_none() {
                    "未处理完".to_owned()
                } else {
                    String::new()
                },
                ..Default::default()
            })
            .await
            .expect("the grid worker verifies");
    }

    async fn settle(&self, grid: &str) {
        let report = self.file(grid, "neighbour-dispute").await;
        self.advance(1).await;
        let token = self.d.token(&worker(grid)).await;
        self.d
            .app
            .reports(&token)
            .resolve_on_site(v1::ResolveOnSiteRequest {
                name: report.name.clone(),
                resolution: "当场调解".to_owned(),
                ..Default::default()
            })
            .await
            .expect("settled on the spot");
    }

    /// The department asks for three more days to finish and a supervisor approves.
    async fn extend(&self, department: &str, case: &v1::Case) {
        self.advance(1).await;
        let due = self.due(case, department, v1::DeadlineStage::Finish).await;
        let extension = self
            .cases(department)
            .await
            .request_extension(v1::RequestExtensionRequest {
                name: case.name.clone(),
                stage: v1::DeadlineStage::Finish.into(),
                requested_due_time: Some(prost_types::Timestamp {
                    seconds: due / 1000 + 3 * 86_400,
                    nanos: 0,
                }),
                reason: "需协调".to_owned(),
                ..Default::default()
            })
            .await
            .expect("the extension is requested")
            .into_inner()
            .extension
            .unwrap();
        self.advance(1).await;
        let supervisor = self.d.token("supervisor").await;
        self.d
            .app
            .supervision(&supervisor)
            .decide_extension(v1::DecideExtensionRequest {
                name: extension.name,
                approved: true,
                ..Default::default()
            })
            .await
            .expect("the extension is approved");
    }

    /// The case as a supervisor reads it now.
    async fn read(&self, case: &v1::Case) -> v1::Case {
        self.d.case_as("supervisor", &case.name).await.case.unwrap()
    }

    async fn due(&self, case: &v1::Case, department: &str, stage: v1::DeadlineStage) -> i64 {
        let case = self.read(case).await;
        let share = case
            .assignments
            .iter()
            .find(|a| a.department == department)
            .unwrap_or_else(|| panic!("{department} is on {}", case.name));
        let deadline = share
            .deadlines
            .iter()
            .find(|d| d.stage() == stage)
            .unwrap_or_else(|| panic!("{department} has a {stage:?} deadline"));
        millis(&deadline.due_time)
    }
}

fn lead(case: &v1::Case) -> String {
    case.assignments[0].department.clone()
}

fn assist(case: &v1::Case) -> String {
    case.assignments[1].department.clone()
}

/// What the script did, by name.
struct History {
    street_j: String,
    street_h: String,
    police_j: String,
    police_h: String,
    urban_j: String,
    urban_h: String,
    /// c2: the street office of J reported in late and its result was reworked.
    late_and_reworked: String,
    /// c3: the urban department of J had an extension approved.
    extended: String,
    /// c4: the police of H returned it.
    returned: String,
    /// c8: the street office of J closed it late.
    closed_late: String,
    /// c9's whistle and acceptance times.
    c9_working_ms: i64,
    /// Every case whistled in March.
    march: Vec<v1::Case>,
}

/// Scripts March 2026 (the clock starts Monday 2 March, 09:00 in Beijing) and one case in April.
async fn script(d: &District) -> History {
    let s = Script { d, aged: 0.into() };
    // c1: on time everywhere, the assist completes its part, accepted 5.
    let (r1, c1) = s.case(J, "neighbour-dispute").await;
    let (street_j, police_j) = (lead(&c1), assist(&c1));
    s.report_in(&street_j, &c1).await;
    s.report_in(&police_j, &c1).await;
    s.complete(&police_j, &c1).await;
    s.complete(&street_j, &c1).await;
    s.verify(J, &r1, Some(5)).await;
    // c2: the street office reports in late (the police never), its result is rejected once, then accepted 3.
    let (r2, c2) = s.case(J, "neighbour-dispute").await;
    s.advance(31).await;
    s.report_in(&street_j, &c2).await;
    s.complete(&street_j, &c2).await;
    s.verify(J, &r2, None).await;
    s.complete(&street_j, &c2).await;
    s.verify(J, &r2, Some(3)).await;
    // c3: the urban department asks for more time and gets it, then closes; accepted 4.
    let (r3, c3) = s.case(J, "city-appearance").await;
    let urban_j = lead(&c3);
    s.report_in(&urban_j, &c3).await;
    s.extend(&urban_j, &c3).await;
    s.complete(&urban_j, &c3).await;
    s.verify(J, &r3, Some(4)).await;
    // c4: in H, the police return it; the street office closes it; accepted 5.
    let (r4, c4) = s.case(H, "neighbour-dispute").await;
    let (street_h, police_h) = (lead(&c4), assist(&c4));
    s.report_in(&street_h, &c4).await;
    s.return_case(&police_h, &c4).await;
    s.complete(&street_h, &c4).await;
    s.verify(H, &r4, Some(5)).await;
    // c5: in H, the street office reports in and is still at work at the month's end; the police never report in.
    let (_, c5) = s.case(H, "neighbour-dispute").await;
    s.report_in(&street_h, &c5).await;
    // c6, c7: settled on the spot.
    s.settle(J).await;
    s.settle(H).await;
    // c8: in J, both report in; it is closed after its finish due time (below).
    let (r8, c8) = s.case(J, "neighbour-dispute").await;
    s.report_in(&street_j, &c8).await;
    s.report_in(&police_j, &c8).await;
    // c9: in H, the urban department closes it at once; accepted 5.
    let (r9, c9) = s.case(H, "city-appearance").await;
    let urban_h = lead(&c9);
    s.report_in(&urban_h, &c9).await;
    s.complete(&urban_h, &c9).await;
    s.verify(H, &r9, Some(5)).await;
    let c9_read = s.read(&c9).await;
    let c9_working_ms = millis(&c9_read.update_time) - millis(&c9_read.create_time);
    // c10: in J, the urban department never reports in.
    let (_, c10) = s.case(J, "city-appearance").await;
    // c11: filed in H and left as it is.
    s.file(H, "neighbour-dispute").await;
    // A supervision letter to the street office of J about c8.
    let supervisor = d.token("supervisor").await;
    d.app
        .supervision(&supervisor)
        .issue_supervision_letter(v1::IssueSupervisionLetterRequest {
            letter_id: uuid::Uuid::new_v4().to_string(),
            department: street_j.clone(),
            cases: vec![c8.name.clone()],
            text: "请加快办理".to_owned(),
            reply_due_time: Some(prost_types::Timestamp {
                seconds: s.now_ms() / 1000 + 86_400,
                nanos: 0,
            }),
        })
        .await
        .expect("the letter is sent");
    // c8 closes an hour after its finish due time; accepted 4.
    let due = s.due(&c8, &street_j, v1::DeadlineStage::Finish).await;
    let wait = (due - s.now_ms()) / 60_000 + 60;
    s.advance(u64::try_from(wait).unwrap()).await;
    s.complete(&street_j, &c8).await;
    s.verify(J, &r8, Some(4)).await;
    // c12: whistled on 2 April; the street office reports in. It belongs to April.
    let april = gridwhistle_domain::Timestamp::from_unix_millis(1_775_091_600_000);
    let wait = (april.as_unix_millis() - s.now_ms()) / 60_000;
    s.advance(u64::try_from(wait).unwrap()).await;
    let (_, c12) = s.case(J, "neighbour-dispute").await;
    s.report_in(&street_j, &c12).await;
    let march = vec![
        c1,
        c2.clone(),
        c3.clone(),
        c4.clone(),
        c5,
        c8.clone(),
        c9,
        c10,
    ];
    History {
        street_j,
        street_h,
        police_j,
        police_h,
        urban_j,
        urban_h,
        late_and_reworked: c2.name,
        extended: c3.name,
        returned: c4.name,
        closed_late: c8.name,
        c9_working_ms,
        march,
    }
}

/// A figure's count pair.
fn pair(r: &Option<v1::Ratio>) -> (i64, i64) {
    let r = r.as_ref().expect("a ratio");
    (r.numerator, r.denominator)
}

/// The figures of one department, as count pairs: response, resolution, satisfaction, on-time closure, closure, rework, extension, return.
type Pairs = [(i64, i64); 8];

fn pairs(s: &v1::DepartmentStats) -> Pairs {
    [
        pair(&s.response_rate),
        pair(&s.resolution_rate),
        pair(&s.satisfaction_rate),
        pair(&s.on_time_closure_rate),
        pair(&s.closure_rate),
        pair(&s.rework_rate),
        pair(&s.extension_rate),
        pair(&s.return_rate),
    ]
}

/// What a department's March figures must be: the count pairs, then open now, overdue now and letters.
fn expected(h: &History) -> Vec<(String, Pairs, [i64; 3])> {
    vec![
        // c1 on time, c2 late and reworked (2 results, 1 rejected; rated 3), c8 closed late; c12 (April) open now; one letter.
        (
            h.street_j.clone(),
            [
                (2, 3),
                (3, 3),
                (2, 3),
                (2, 3),
                (3, 3),
                (1, 4),
                (0, 3),
                (0, 3),
            ],
            [1, 0, 1],
        ),
        // c1 and c8 reported in, c2 never (its case closed, so not open now); the assist's one result; c12 (April) open now.
        (
            h.police_j.clone(),
            [
                (2, 3),
                (0, 0),
                (0, 0),
                (0, 0),
                (0, 0),
                (0, 1),
                (0, 3),
                (0, 3),
            ],
            [1, 0, 0],
        ),
        // c3 extended and closed (rated 4), c10 never reported in: open and overdue.
        (
            h.urban_j.clone(),
            [
                (1, 2),
                (1, 1),
                (1, 1),
                (1, 2),
                (1, 2),
                (0, 1),
                (1, 2),
                (0, 2),
            ],
            [1, 1, 0],
        ),
        // c4 closed (rated 5); c5 still at work, past its due times.
        (
            h.street_h.clone(),
            [
                (2, 2),
                (1, 1),
                (1, 1),
                (1, 2),
                (1, 2),
                (0, 1),
                (0, 2),
                (0, 2),
            ],
            [1, 1, 0],
        ),
        // c4 returned, c5 never reported in.
        (
            h.police_h.clone(),
            [
                (0, 2),
                (0, 0),
                (0, 0),
                (0, 0),
                (0, 0),
                (0, 0),
                (0, 2),
                (1, 2),
            ],
            [1, 1, 0],
        ),
        // c9 at once, rated 5.
        (
            h.urban_h.clone(),
            [
                (1, 1),
                (1, 1),
                (1, 1),
                (1, 1),
                (1, 1),
                (0, 1),
                (0, 1),
                (0, 1),
            ],
            [0, 0, 0],
        ),
    ]
}

/// The escalations fired on each department's shares of `cases`, as their deadlines (letters' aside) show them.
async fn escalations_on(d: &District, cases: &[v1::Case]) -> BTreeMap<String, i64> {
    let mut fired = BTreeMap::new();
    for case in cases {
        let case = d.case_as("supervisor", &case.name).await.case.unwrap();
        for a in &case.assignments {
            let levels: i64 = a
                .deadlines
                .iter()
                .filter(|x| x.stage() != v1::DeadlineStage::LetterReply)
                .map(|x| i64::from(x.escalation_level))
                .sum();
            *fired.entry(a.department.clone()).or_insert(0) += levels;
        }
    }
    fired
}

async fn ranking(d: &District, token: &str, order_by: &str) -> Vec<v1::DepartmentStats> {
    d.app
        .supervision(token)
        .list_department_stats(v1::ListDepartmentStatsRequest {
            period: month("2026-03"),
            order_by: order_by.to_owned(),
        })
        .await
        .unwrap()
        .into_inner()
        .stats
}

#[tokio::test]
async fn a_scripted_month_gives_every_figure_and_the_ranking_and_rebuilds_equal() {
    for backend in backends() {
        let d = District::start(backend).await;
        let h = script(&d).await;
        // The deadline engine fires what fell due up to now (2 April): escalations on the shares still overdue.
        let engine = d.app.engine().await;
        assert!(engine.run_due().await.unwrap().fired > 0);
        let supervisor = d.token("supervisor").await;
        let ranked = ranking(&d, &supervisor, "response_rate desc").await;
        let order: Vec<&str> = ranked
            .iter()
            .filter(|s| s.assignment_count > 0)
            .map(|s| s.department.as_str())
            .collect();
        // 2/2 and 1/1 tie at 100%, and 2/3 twice: ties go by department id.
        assert_eq!(
            order,
            [
                &h.street_h,
                &h.urban_h,
                &h.police_j,
                &h.street_j,
                &h.urban_j,
                &h.police_h
            ]
            .map(String::as_str)
        );
        assert_eq!(
            ranked.iter().map(|s| s.rank).collect::<Vec<_>>(),
            (1..=i32::try_from(ranked.len()).unwrap()).collect::<Vec<_>>(),
            "every department of the directory is ranked, those without assignments last"
        );
        let fired = escalations_on(&d, &h.march).await;
        for (department, pairs_expected, [open, overdue, letters]) in expected(&h) {
            let got = ranked.iter().find(|s| s.department == department).unwrap();
            assert_eq!(pairs(got), pairs_expected, "{department}");
            assert_eq!(
                (
                    got.open_count,
                    got.overdue_count,
                    got.supervision_letter_count
                ),
                (open, overdue, letters),
                "{department}: open, overdue, letters"
            );
            assert_eq!(
                got.escalation_count,
                fired.get(&department).copied().unwrap_or_default(),
                "{department}: escalations"
            );
            // A department's own call answers what the ranking shows.
            let own = d
                .app
                .supervision(
                    &d.token(&format!("head.{}", &department["departments/".len()..]))
                        .await,
                )
                .get_department_stats(v1::GetDepartmentStatsRequest {
                    department: department.clone(),
                    period: month("2026-03"),
                })
                .await
                .unwrap()
                .into_inner()
                .stats
                .unwrap();
            assert_eq!(
                own,
                v1::DepartmentStats {
                    rank: 0,
                    ..got.clone()
                },
                "{department}"
            );
        }
        assert!(
            fired.values().sum::<i64>() > 0,
            "the engine escalated something"
        );
        let sj = ranked.iter().find(|s| s.department == h.street_j).unwrap();
        assert_eq!(sj.mean_satisfaction, 4.0, "(5 + 3 + 4) / 3");
        // c9 was whistled and accepted within one morning's working hours.
        let um = ranked.iter().find(|s| s.department == h.urban_h).unwrap();
        let c9 = Some(prost_types::Duration {
            seconds: h.c9_working_ms / 1000,
            nanos: i32::try_from(h.c9_working_ms % 1000).unwrap() * 1_000_000,
        });
        assert_eq!(um.mean_working_time_to_acceptance, c9);
        // The median is the middle of the bucket c9's time counts in, within 1/32 of it.
        let (lower, upper) =
            working_bucket_span(gridwhistle_server::model::working_bucket(h.c9_working_ms));
        assert!(lower <= h.c9_working_ms && h.c9_working_ms < upper);
        let middle = lower + (upper - lower) / 2;
        assert_eq!(
            um.median_working_time_to_acceptance,
            Some(prost_types::Duration {
                seconds: middle / 1000,
                nanos: i32::try_from(middle % 1000).unwrap() * 1_000_000,
            })
        );

        // Another order: the buck-passing signal first.
        let by_returns = ranking(&d, &supervisor, "return_rate desc").await;
        assert_eq!(by_returns[0].department, h.police_h);
        let bad = d
            .app
            .supervision(&supervisor)
            .list_department_stats(v1::ListDepartmentStatsRequest {
                period: month("2026-13"),
                order_by: "speed".to_owned(),
            })
            .await
            .unwrap_err();
        assert_eq!(bad.code(), Code::InvalidArgument);
        assert_eq!(
            gridwhistle_tests::field_violations(&bad),
            vec!["period.month"],
            "the period is checked first"
        );

        // The facts rebuilt from the event log equal the facts kept step by step, and the figures with them.
        let admin = d.token("admin").await;
        let rebuilt = d
            .app
            .admin(&admin)
            .rebuild_stats_facts(v1::RebuildStatsFactsRequest {})
            .await
            .unwrap()
            .into_inner();
        assert_eq!(rebuilt.case_count, 9, "eight cases in March, one in April");
        assert_eq!(rebuilt.changed_assignment_count, 0, "{rebuilt:?}");
        assert_eq!(rebuilt.changed_rollup_count, 0, "{rebuilt:?}");
        rollups_equal_facts(&d, &h).await;
        assert_eq!(ranking(&d, &supervisor, "response_rate desc").await, ranked);
        let refused = d
            .app
            .admin(&supervisor)
            .rebuild_stats_facts(v1::RebuildStatsFactsRequest {})
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied);

        check_views(&d, &h).await;
        check_exports(&d, &h, &ranked).await;
    }
}

/// The department figures summed from the daily rollups equal those counted from the facts, over months, a week and a day, with the hour before, in and after them.
async fn rollups_equal_facts(d: &District, h: &History) {
    use gridwhistle_server::model::ShareGroup;
    use gridwhistle_server::stats::PeriodSpec;
    let store = d.app.database.store().await;
    let zone = gridwhistle_dispatcher::calendar::Zone::parse("Asia/Shanghai").unwrap();
    let now = d.app.clock.now();
    let today = zone.start_of(zone.date(now));
    let specs = [
        PeriodSpec::Month("2026-03".to_owned()),
        PeriodSpec::Month("2026-04".to_owned()),
        PeriodSpec::Week("2026-W12".to_owned()),
        PeriodSpec::Range {
            start: today,
            end: today.saturating_add(Duration::from_secs(86_400)),
        },
    ];
    let urban =
        gridwhistle_domain::DepartmentId::parse(&h.urban_j["departments/".len()..]).unwrap();
    let day = 86_400_000;
    let mut compared = 0;
    for spec in &specs {
        let (period, _) = spec.resolve(&zone).unwrap();
        for shift in [-40 * day, -9 * day, -3_600_000, 0, 3 * 3_600_000, 40 * day] {
            let at = gridwhistle_domain::Timestamp::from_unix_millis(now.as_unix_millis() + shift);
            for department in [None, Some(&urban)] {
                let stats = store.stats();
                let rolled = stats
                    .share_counts(ShareGroup::Department, department, period, at)
                    .await
                    .unwrap();
                let counted = store
                    .stats()
                    .share_counts_from_facts(ShareGroup::Department, department, period, at)
                    .await
                    .unwrap();
                assert_eq!(rolled, counted, "{spec:?} at {at:?} for {department:?}");
                compared += rolled.len();
            }
        }
    }
    assert!(compared > 50, "the periods hold shares: {compared}");
    store.close().await.unwrap();
}

/// Streets, breakdowns, trends and shortfalls of the same month.
async fn check_views(d: &District, h: &History) {
    let supervisor = d.token("supervisor").await;
    let mut supervision = d.app.supervision(&supervisor);
    let streets = supervision
        .list_area_stats(v1::ListAreaStatsRequest {
            period: month("2026-03"),
            level: v1::AreaLevel::Street.into(),
            order_by: "first_time_rate desc".to_owned(),
        })
        .await
        .unwrap()
        .into_inner()
        .stats;
    let figures: Vec<_> = streets
        .iter()
        .map(|a| {
            (
                a.area.as_str(),
                a.report_count,
                pair(&a.whistle_rate),
                pair(&a.on_site_rate),
                pair(&a.first_time_rate),
            )
        })
        .collect();
    // 建外: c1, c2, c3, c6 (on the spot), c8, c10; c2 was reworked. 呼家楼: c4, c5, c7 (on the spot), c9, c11.
    assert_eq!(
        figures,
        [
            ("streets/建外街道", 6, (5, 6), (1, 6), (4, 6)),
            ("streets/呼家楼街道", 5, (3, 5), (1, 5), (3, 5)),
        ]
    );

    let head = d
        .token(&format!("head.{}", &h.street_j["departments/".len()..]))
        .await;
    let by_category = d
        .app
        .supervision(&head)
        .break_down_department_stats(v1::BreakDownDepartmentStatsRequest {
            department: h.street_j.clone(),
            period: month("2026-03"),
            dimension: v1::StatsDimension::Category.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .stats;
    assert_eq!(
        by_category
            .iter()
            .map(|s| (s.group.as_str(), s.assignment_count))
            .collect::<Vec<_>>(),
        [("neighbour-dispute", 3)]
    );
    let trend = d
        .app
        .supervision(&head)
        .list_department_trend(v1::ListDepartmentTrendRequest {
            department: h.street_j.clone(),
            end_month: "2026-04".to_owned(),
            month_count: 3,
        })
        .await
        .unwrap()
        .into_inner()
        .stats;
    assert_eq!(
        trend
            .iter()
            .map(|s| (s.group.as_str(), s.assignment_count, pair(&s.response_rate)))
            .collect::<Vec<_>>(),
        [
            ("2026-02", 0, (0, 0)),
            ("2026-03", 3, (2, 3)),
            ("2026-04", 1, (1, 1))
        ]
    );
    // The head's own shortfalls, each naming its case; another department's are not there to see.
    for (kind, department, case) in [
        (
            v1::ShortfallKind::LateReportIn,
            &h.street_j,
            &h.late_and_reworked,
        ),
        (v1::ShortfallKind::Rework, &h.street_j, &h.late_and_reworked),
        (
            v1::ShortfallKind::Dissatisfied,
            &h.street_j,
            &h.late_and_reworked,
        ),
        (v1::ShortfallKind::LateClosure, &h.street_j, &h.closed_late),
        (v1::ShortfallKind::Extension, &h.urban_j, &h.extended),
        (v1::ShortfallKind::Return, &h.police_h, &h.returned),
    ] {
        let listed = supervision
            .list_shortfalls(v1::ListShortfallsRequest {
                department: department.clone(),
                period: month("2026-03"),
                kind: kind.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .shortfalls;
        let cases: Vec<&str> = listed.iter().map(|s| s.case.as_str()).collect();
        assert_eq!(cases, [case.as_str()], "{kind:?} of {department}");
    }
    let other = d
        .app
        .supervision(&head)
        .list_shortfalls(v1::ListShortfallsRequest {
            department: h.police_h.clone(),
            period: month("2026-03"),
            kind: v1::ShortfallKind::Return.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(other.code(), Code::NotFound);
}

/// The ranking as XLSX holds the RPC's figures; the CSV starts with a byte-order mark; neither holds a party.
async fn check_exports(d: &District, h: &History, ranked: &[v1::DepartmentStats]) {
    use calamine::{Data, Reader as _, Xlsx};
    use tokio_stream::StreamExt as _;
    let supervisor = d.token("supervisor").await;
    let export = |format: v1::ExportFormat, view: v1::export_stats_request::View| {
        let mut supervision = d.app.supervision(&supervisor);
        async move {
            let mut parts = supervision
                .export_stats(v1::ExportStatsRequest {
                    view: Some(view),
                    format: format.into(),
                })
                .await
                .unwrap()
                .into_inner();
            let first = parts.next().await.unwrap().unwrap();
            let mut bytes = first.data;
            while let Some(part) = parts.next().await {
                bytes.extend(part.unwrap().data);
            }
            (first.content_type, first.filename, bytes)
        }
    };
    let ranking_view = v1::export_stats_request::View::Ranking(v1::ListDepartmentStatsRequest {
        period: month("2026-03"),
        order_by: "response_rate desc".to_owned(),
    });
    let (kind, name, xlsx) = export(v1::ExportFormat::Xlsx, ranking_view.clone()).await;
    assert!(kind.contains("spreadsheetml"), "{kind}");
    assert_eq!(name, "departments-2026-03.xlsx");
    let mut book: Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(xlsx)).unwrap();
    let sheet = book.worksheet_range("部门排名").unwrap();
    let rows: Vec<&[Data]> = sheet.rows().collect();
    let headers: Vec<String> = rows[0].iter().map(ToString::to_string).collect();
    let column = |header: &str| headers.iter().position(|h| h == header).unwrap();
    assert_eq!(
        rows.len(),
        ranked.len() + 1,
        "a header and a row per department"
    );
    for (row, stats) in rows[1..].iter().zip(ranked) {
        assert_eq!(
            row[column("部门编号")].to_string(),
            stats.department.trim_start_matches("departments/")
        );
        assert_eq!(row[column("部门名称")].to_string(), stats.display_name);
        assert_eq!(row[column("排名")], Data::Float(f64::from(stats.rank)));
        assert_eq!(
            row[column("派单数")],
            Data::Float(stats.assignment_count as f64)
        );
        for (figure, ratio) in [
            ("响应率", &stats.response_rate),
            ("解决率", &stats.resolution_rate),
            ("满意率", &stats.satisfaction_rate),
            ("按期结案率", &stats.on_time_closure_rate),
            ("退单率", &stats.return_rate),
        ] {
            let ratio = ratio.as_ref().unwrap();
            assert_eq!(
                row[column(&format!("{figure}分子"))],
                Data::Float(ratio.numerator as f64)
            );
            assert_eq!(
                row[column(&format!("{figure}分母"))],
                Data::Float(ratio.denominator as f64)
            );
            assert_eq!(
                row[column(figure)],
                Data::Float(ratio.rate),
                "{figure} of {}",
                stats.department
            );
        }
    }
    let every_cell: Vec<String> = rows
        .iter()
        .flat_map(|r| r.iter().map(ToString::to_string))
        .collect();
    let (_, _, csv) = export(v1::ExportFormat::Csv, ranking_view).await;
    assert!(csv.starts_with("\u{feff}".as_bytes()), "a byte-order mark");
    let csv = String::from_utf8(csv).unwrap();
    assert!(csv.contains("响应率分子"), "Chinese headers");
    let shortfalls = v1::export_stats_request::View::Shortfalls(v1::ListShortfallsRequest {
        department: h.street_j.clone(),
        period: month("2026-03"),
        kind: v1::ShortfallKind::LateReportIn.into(),
        ..Default::default()
    });
    let (_, name, shortfalls) = export(v1::ExportFormat::Csv, shortfalls).await;
    assert_eq!(name, "street-jianwai-shortfalls-2026-03.csv");
    let shortfalls = String::from_utf8(shortfalls).unwrap();
    assert!(shortfalls.contains(&h.late_and_reworked), "{shortfalls}");
    for personal in ["张三丰", "13800138000", "11010519491231002X"] {
        assert!(!csv.contains(personal) && !shortfalls.contains(personal));
        assert!(every_cell.iter().all(|c| !c.contains(personal)));
    }
}

/// Shares filed before the figures existed have no facts; the server builds them from their timelines before it serves.
#[tokio::test]
async fn a_server_started_on_cases_from_before_the_facts_builds_them_first() {
    use sea_orm::ConnectionTrait as _;
    for backend in backends() {
        let d = District::start(backend).await;
        let s = Script {
            d: &d,
            aged: 0.into(),
        };
        let (report, case) = s.case(J, "city-appearance").await;
        let urban = lead(&case);
        s.report_in(&urban, &case).await;
        s.complete(&urban, &case).await;
        s.verify(J, &report, Some(5)).await;
        let supervisor = d.token("supervisor").await;
        let before = ranking(&d, &supervisor, "closure_rate desc").await;
        let database = d.app.database.clone();
        let District { app, .. } = d;
        app.stop().await.unwrap();
        // The rows as migration m0017 left them: counters at their defaults, never built.
        let db = sea_orm::Database::connect(database.url()).await.unwrap();
        let stripped = db
            .execute_unprepared(
                "UPDATE assignments SET completions = 0, rejections = 0, returns = 0, \
                 extensions_approved = 0, accepted_at_ms = NULL, satisfaction = NULL, \
                 working_ms = NULL, facts_version = 0",
            )
            .await
            .unwrap();
        assert_eq!(stripped.rows_affected(), 1);
        db.close().await.unwrap();
        let mut config = gridwhistle_server::ServerConfig::with_defaults(database.url().to_owned());
        config.demo = true;
        config.push.sender = false;
        let app = gridwhistle_tests::spawn_app_with(database, config).await;
        let token = app
            .login("supervisor", gridwhistle_server::demo::DEMO_PASSWORD)
            .await
            .access_token;
        let after = app
            .supervision(&token)
            .list_department_stats(v1::ListDepartmentStatsRequest {
                period: month("2026-03"),
                order_by: "closure_rate desc".to_owned(),
            })
            .await
            .unwrap()
            .into_inner()
            .stats;
        let figures = |stats: &[v1::DepartmentStats]| {
            stats.iter().find(|s| s.department == urban).map(|s| {
                (
                    pairs(s),
                    s.mean_satisfaction,
                    s.median_working_time_to_acceptance,
                )
            })
        };
        assert_eq!(figures(&after), figures(&before));
        assert_eq!(pair(&after[0].closure_rate), (1, 1), "{:?}", after[0]);
        app.stop().await.unwrap();
    }
}
