//! The sample district in tests: a server started with `--demo`, its users' tokens, and points inside its grids.

use std::collections::HashMap;

use gridwhistle_proto::v1;
use gridwhistle_server::ServerConfig;
use tokio::sync::Mutex;

use crate::database::{Backend, TestDatabase};
use crate::{TEST_EPOCH, TestApp, spawn_app_with, spawn_app_with_engine};

const GRIDS: &str = include_str!("../../server/demo/grids.geojson");

/// A server on a fresh database holding the sample district, with a token cache per demo user.
#[derive(Debug)]
pub struct District {
    pub app: TestApp,
    tokens: Mutex<HashMap<String, String>>,
}

impl District {
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, |_| {}).await
    }

    /// Starts the district with `configure` applied to the server's configuration; the push sender is off unless `configure` turns it on.
    pub async fn start_with(backend: Backend, configure: impl FnOnce(&mut ServerConfig)) -> Self {
        let (database, config) = Self::config(backend, configure).await;
        Self::on(spawn_app_with(database, config).await)
    }

    /// [`District::start_with`], the server running its own deadline engine on the test clock.
    pub async fn start_with_engine(
        backend: Backend,
        configure: impl FnOnce(&mut ServerConfig),
    ) -> Self {
        let (database, config) = Self::config(backend, configure).await;
        Self::on(spawn_app_with_engine(database, config).await)
    }

    async fn config(
        backend: Backend,
        configure: impl FnOnce(&mut ServerConfig),
    ) -> (TestDatabase, ServerConfig) {
        let database = TestDatabase::create(backend).await;
        let mut config = ServerConfig::with_defaults(database.url().to_owned());
        config.demo = true;
        config.push.sender = false;
        configure(&mut config);
        (database, config)
    }

    /// The district over a server started on it before.
    pub fn on(app: TestApp) -> Self {
        Self {
            app,
            tokens: Mutex::new(HashMap::new()),
        }
    }

    /// An access token of the demo user `username`, logged in once.
    pub async fn token(&self, username: &str) -> String {
        let mut tokens = self.tokens.lock().await;
        if let Some(token) = tokens.get(username) {
            return token.clone();
        }
        let token = self
            .app
            .login(username, gridwhistle_server::demo::DEMO_PASSWORD)
            .await
            .access_token;
        tokens.insert(username.to_owned(), token.clone());
        token
    }
}

impl District {
    /// The "users/{user}" name of the holder of `token`, as WhoAmI tells it.
    pub async fn user_of_token(&self, token: &str) -> String {
        let mut request = tonic::Request::new(v1::WhoAmIRequest {});
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {token}").parse().expect("tokens are ASCII"),
        );
        self.app
            .auth()
            .who_am_i(request)
            .await
            .expect("a valid token tells its caller")
            .into_inner()
            .caller
            .expect("a caller")
            .user
    }

    /// The "users/{user}" name of the demo user `username`.
    pub async fn user_name(&self, username: &str) -> String {
        let token = self.token(username).await;
        self.user_of_token(&token).await
    }

    /// Forgets every cached token, e.g. after the test clock jumped past their expiry.
    pub async fn forget_tokens(&self) {
        self.tokens.lock().await.clear();
    }

    /// Files a well-formed report as the demo grid worker `worker` at a point inside `grid`.
    pub async fn file_report(&self, worker: &str, grid: &str, category: &str) -> v1::Report {
        let (lat, lng) = point_in_grid(grid);
        self.file(worker, report_at(lat, lng, category)).await
    }

    /// Files `report` under a new id as the demo grid worker `worker`.
    pub async fn file(&self, worker: &str, report: v1::Report) -> v1::Report {
        let token = self.token(worker).await;
        self.app
            .reports(&token)
            .create_report(v1::CreateReportRequest {
                report_id: new_report_id(),
                report: Some(report),
            })
            .await
            .expect("the report is filed")
            .into_inner()
            .report
            .expect("a report")
    }

    /// The case `name` and its timeline as the demo user `username` sees them.
    pub async fn case_as(&self, username: &str, name: &str) -> v1::GetCaseResponse {
        self.app
            .cases(&self.token(username).await)
            .get_case(v1::GetCaseRequest {
                name: name.to_owned(),
            })
            .await
            .expect("the case is visible")
            .into_inner()
    }

    /// Files a neighbour dispute as the demo grid worker of `g-jianwai-1-01` and whistles it with `grade` (the street office leads, the police assist); returns the report and the case.
    pub async fn whistle_dispute(&self, grade: v1::RiskGrade) -> (v1::Report, v1::Case) {
        const WORKER: &str = "worker.g-jianwai-1-01";
        let report = self
            .file_report(WORKER, "g-jianwai-1-01", "neighbour-dispute")
            .await;
        let case = self
            .whistle(WORKER, &report.name, v1::WhistleKind::Routine, grade)
            .await;
        (report, case)
    }

    /// Whistles the report `name` as its author `worker`; returns the case.
    pub async fn whistle(
        &self,
        worker: &str,
        name: &str,
        kind: v1::WhistleKind,
        grade: v1::RiskGrade,
    ) -> v1::Case {
        let token = self.token(worker).await;
        self.app
            .reports(&token)
            .whistle(v1::WhistleRequest {
                name: name.to_owned(),
                kind: kind.into(),
                risk_grade: grade.into(),
                ..Default::default()
            })
            .await
            .expect("the report is whistled")
            .into_inner()
            .case
            .expect("a case")
    }
}

/// A small but real JPEG header followed by filler that `seed` varies: the server sniffs the type from these bytes.
pub fn photo(len: usize, seed: u8) -> Vec<u8> {
    let mut bytes = vec![
        0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00,
    ];
    bytes.extend((0..len - bytes.len()).map(|i| ((i * 31 + usize::from(seed)) % 251) as u8));
    bytes
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    gridwhistle_server::attachments::hex(&sha2::Sha256::digest(bytes))
}

impl District {
    /// Uploads `bytes` as the demo user `username` in 256 KiB chunks on one stream; returns the "attachments/{sha256}" name.
    pub async fn upload(&self, username: &str, bytes: &[u8]) -> String {
        let sha256 = sha256_hex(bytes);
        let upload_id = uuid::Uuid::new_v4().to_string();
        let chunks: Vec<v1::UploadAttachmentRequest> = bytes
            .chunks(256 * 1024)
            .enumerate()
            .map(|(i, data)| v1::UploadAttachmentRequest {
                upload_id: upload_id.clone(),
                total_size_bytes: bytes.len() as i64,
                sha256: sha256.clone(),
                offset: (i * 256 * 1024) as i64,
                data: data.to_vec(),
                crc32c: gridwhistle_server::attachments::crc32c(data),
            })
            .collect();
        let done = self
            .app
            .reports(&self.token(username).await)
            .upload_attachment(tokio_stream::iter(chunks))
            .await
            .expect("the upload is accepted")
            .into_inner();
        done.attachment.expect("the whole file arrived").name
    }

    /// Downloads the attachment `name` as the holder of `token` from `offset` to the stream's end, checking every chunk's place and CRC-32C; returns the bytes.
    pub async fn download(
        &self,
        token: &str,
        name: &str,
        offset: i64,
    ) -> Result<Vec<u8>, tonic::Status> {
        use tokio_stream::StreamExt as _;
        let mut stream = self
            .app
            .attachments(token)
            .download_attachment(v1::DownloadAttachmentRequest {
                name: name.to_owned(),
                offset,
            })
            .await?
            .into_inner();
        let mut bytes = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            assert_eq!(
                chunk.offset,
                offset + bytes.len() as i64,
                "chunks arrive in order"
            );
            assert_eq!(
                chunk.crc32c,
                gridwhistle_server::attachments::crc32c(&chunk.data),
                "each chunk carries its CRC-32C"
            );
            assert!(name.ends_with(&chunk.sha256));
            bytes.extend(chunk.data);
            assert!(offset + bytes.len() as i64 <= chunk.total_size_bytes);
        }
        Ok(bytes)
    }
}

/// The demo duty officer's username of `department`, given as `departments/{department}`.
pub fn duty_officer(department: &str) -> String {
    format!(
        "duty.{}",
        department
            .strip_prefix("departments/")
            .expect("a department name")
    )
}

/// A WGS-84 point inside the sample grid `grid`, as `(latitude, longitude)`.
pub fn point_in_grid(grid: &str) -> (f64, f64) {
    gridwhistle_sample::point_in_grid(GRIDS, grid)
        .unwrap_or_else(|| panic!("no sample grid {grid}"))
}

/// A well-formed report at `(lat, lng)`, observed at the test epoch.
pub fn report_at(lat: f64, lng: f64, category: &str) -> v1::Report {
    v1::Report {
        category: format!("categories/{category}"),
        description: "楼道堆放杂物，邻里争执".to_owned(),
        location: Some(v1::Location {
            latitude: lat,
            longitude: lng,
            coordinate_system: v1::CoordinateSystem::Wgs84.into(),
            accuracy_meters: 8.0,
        }),
        observe_time: Some(prost_types::Timestamp {
            seconds: TEST_EPOCH.as_unix_millis() / 1000 - 600,
            nanos: 0,
        }),
        parties: vec![v1::Party {
            name: "张三丰".to_owned(),
            phone: "13800138000".to_owned(),
            id_number: "11010519491231002X".to_owned(),
            relation: "住户".to_owned(),
            masked: false,
        }],
        ..Default::default()
    }
}

/// A new client-generated report id.
pub fn new_report_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

impl District {
    /// Returns the case as one active department after another until no one is left to lead it; returns its last state.
    pub async fn returned_by_everyone(&self, name: &str) -> v1::Case {
        for _ in 0..12 {
            let case = self.case_as("supervisor", name).await.case.expect("a case");
            let active = case.assignments.iter().find(|a| {
                matches!(
                    a.state(),
                    v1::AssignmentState::Summoned
                        | v1::AssignmentState::ReportedIn
                        | v1::AssignmentState::Contacted
                )
            });
            let Some(active) = active else {
                return case;
            };
            self.app
                .cases(&self.token(&duty_officer(&active.department)).await)
                .return_case(v1::ReturnCaseRequest {
                    name: name.to_owned(),
                    reason: "不属于本部门职责".to_owned(),
                    ..Default::default()
                })
                .await
                .expect("the department returns the case");
        }
        panic!("the case kept being rerouted");
    }
}
