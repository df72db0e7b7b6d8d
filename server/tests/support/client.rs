//! A gRPC client of a `gridwhistle` child process, for the crash tests: lazy channels that survive the server's restarts, and bearer tokens.

use std::time::Duration;

use tonic::transport::{Channel, Endpoint};

/// A channel to `addr` that connects lazily, so calls fail fast and retry while the server is down.
pub(crate) fn channel(addr: &str) -> Channel {
    Endpoint::from_shared(format!("http://{addr}"))
        .expect("an address")
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(10))
        .connect_lazy()
}

/// `message` with the caller's access token.
pub(crate) fn authorized<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("ascii"),
    );
    request
}

/// Logs the demo user `username` in; answers the access token.
#[allow(dead_code, reason = "each test binary uses the part it needs")]
pub(crate) async fn login(channel: Channel, username: &str) -> String {
    gridwhistle_proto::v1::auth_service_client::AuthServiceClient::new(channel)
        .login(gridwhistle_proto::v1::LoginRequest {
            username: username.to_owned(),
            password: gridwhistle_server::demo::DEMO_PASSWORD.to_owned(),
        })
        .await
        .expect("the demo user logs in")
        .into_inner()
        .tokens
        .expect("tokens")
        .access_token
}

/// Files a neighbour dispute at `at`, seen a minute ago by the system clock the server runs on, and whistles it; answers the case.
#[allow(dead_code, reason = "each test binary uses the part it needs")]
pub(crate) async fn whistle_dispute(
    channel: Channel,
    token: &str,
    at: (f64, f64),
) -> gridwhistle_proto::v1::Case {
    use gridwhistle_dispatcher::Clock as _;
    use gridwhistle_proto::v1;
    let mut reports = v1::report_service_client::ReportServiceClient::new(channel);
    let seen = gridwhistle_dispatcher::SystemClock.now().as_unix_millis() / 1000 - 60;
    let report = reports
        .create_report(authorized(
            v1::CreateReportRequest {
                report_id: uuid::Uuid::now_v7().to_string(),
                report: Some(v1::Report {
                    category: "categories/neighbour-dispute".to_owned(),
                    description: "楼道堆放杂物".to_owned(),
                    location: Some(v1::Location {
                        latitude: at.0,
                        longitude: at.1,
                        coordinate_system: v1::CoordinateSystem::Wgs84.into(),
                        accuracy_meters: 5.0,
                    }),
                    observe_time: Some(prost_types::Timestamp {
                        seconds: seen,
                        nanos: 0,
                    }),
                    ..Default::default()
                }),
            },
            token,
        ))
        .await
        .expect("the report is filed")
        .into_inner()
        .report
        .expect("a report");
    reports
        .whistle(authorized(
            v1::WhistleRequest {
                name: report.name,
                kind: v1::WhistleKind::Routine.into(),
                ..Default::default()
            },
            token,
        ))
        .await
        .expect("the report is whistled")
        .into_inner()
        .case
        .expect("a case")
}

/// Opens a ledger entry of its own as a supervisor, with two steps (over two departments) both due at `due` (seconds since the epoch); answers the entry's name.
#[allow(dead_code, reason = "each test binary uses the part it needs")]
pub(crate) async fn open_ledger_entry(channel: Channel, token: &str, due: i64) -> String {
    use gridwhistle_proto::v1;
    let step = |department: &str| v1::LedgerStepPlan {
        department: format!("departments/{department}"),
        description: "化解".to_owned(),
        due_time: Some(prost_types::Timestamp {
            seconds: due,
            nanos: 0,
        }),
        working_days: 0,
    };
    v1::ledger_service_client::LedgerServiceClient::new(channel)
        .open_ledger_entry(authorized(
            v1::OpenLedgerEntryRequest {
                entry_id: uuid::Uuid::new_v4().to_string(),
                title: "积案".to_owned(),
                summary: "多年信访".to_owned(),
                nature: v1::LedgerNature::LawRelated.into(),
                since_time: Some(prost_types::Timestamp {
                    seconds: due - 86_400,
                    nanos: 0,
                }),
                complexity: v1::LedgerLevel::Medium.into(),
                social_impact: v1::LedgerLevel::Low.into(),
                grade: v1::RiskGrade::A.into(),
                responsible_unit: "departments/police-01".to_owned(),
                responsible_person: "所长".to_owned(),
                steps: vec![step("police-01"), step("justice-01")],
                ..Default::default()
            },
            token,
        ))
        .await
        .expect("the entry opens")
        .into_inner()
        .entry
        .expect("an entry")
        .name
}
