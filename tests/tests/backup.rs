//! `gridwhistle backup` while the server serves, then `gridwhistle restore` into a new database and data directory, on every backend: a server on the restored copy reads back the same reports, cases and timelines, and the same attachment bytes (by SHA-256).

use clap::Parser as _;
use gridwhistle_proto::v1;
use gridwhistle_server::config::Cli;
use gridwhistle_tests::database::{TestDatabase, backends};
use gridwhistle_tests::district::{
    District, duty_officer, photo, point_in_grid, report_at, sha256_hex,
};
use gridwhistle_tests::spawn_app_in;

const WORKER: &str = "worker.g-jianwai-1-01";
const GRID: &str = "g-jianwai-1-01";

/// Runs a `gridwhistle` command line in this process.
async fn gridwhistle(args: &[&str]) -> anyhow::Result<()> {
    let cli = Cli::parse_from(std::iter::once("gridwhistle").chain(args.iter().copied()));
    gridwhistle_server::cli::execute(cli).await
}

/// Files a report with `bytes` attached as the demo worker and whistles it; answers the report's name and its attachment's.
async fn filed_with_photo(district: &District, bytes: &[u8]) -> (String, String) {
    let attachment = district.upload(WORKER, bytes).await;
    let (lat, lng) = point_in_grid(GRID);
    let mut draft = report_at(lat, lng, "neighbour-dispute");
    draft.attachments = vec![attachment.clone()];
    let report = district.file(WORKER, draft).await;
    (report.name, attachment)
}

#[tokio::test]
async fn a_backup_taken_while_serving_restores_the_same_reports_and_attachment_bytes() {
    for backend in backends() {
        let district = District::start(backend).await;
        let first = photo(2 * 1024 * 1024 + 777, 3);
        let second = photo(40_000, 9);
        let (report, attachment) = filed_with_photo(&district, &first).await;
        let (other_report, other) = filed_with_photo(&district, &second).await;
        let case = district
            .whistle(WORKER, &report, v1::WhistleKind::Routine, v1::RiskGrade::B)
            .await;
        let lead = duty_officer(&case.assignments[0].department);
        let before = district.case_as(&lead, &case.name).await;

        let backup = tempfile::tempdir().unwrap();
        let to = backup.path().join("backup");
        let files = district.app.files.path().to_string_lossy().into_owned();
        let url = district.app.database.url().to_owned();
        let to_arg = to.to_string_lossy().into_owned();
        gridwhistle(&[
            "--data-dir",
            &files,
            "--database-url",
            &url,
            "backup",
            "--to",
            &to_arg,
        ])
        .await
        .expect("the backup is written while the server serves");
        let again = gridwhistle(&[
            "--data-dir",
            &files,
            "--database-url",
            &url,
            "backup",
            "--to",
            &to_arg,
        ])
        .await
        .expect_err("a backup never overwrites one");
        assert!(again.to_string().contains("exists"), "{again:#}");

        // Restored into a new database and data directory, and served from there.
        let database = TestDatabase::create(backend).await;
        let data = tempfile::tempdir().unwrap();
        let restored_files = data.path().to_string_lossy().into_owned();
        let restored_url = database.url().to_owned();
        let restore_args = [
            "--data-dir",
            &restored_files,
            "--database-url",
            &restored_url,
            "restore",
            "--from",
            &to_arg,
        ];
        gridwhistle(&restore_args)
            .await
            .expect("the backup restores into an empty database");
        let refused = gridwhistle(&restore_args)
            .await
            .expect_err("a restore never overwrites a database");
        assert!(
            refused.to_string().contains("restore into a new"),
            "{refused:#}"
        );
        let mut config = gridwhistle_server::ServerConfig::with_defaults(restored_url);
        config.push.sender = false;
        let restored = District::on(spawn_app_in(database, config, data).await);
        let after = restored.case_as(&lead, &case.name).await;
        assert_eq!(after, before, "{backend:?}: the same case and timeline");
        let token = restored.token(WORKER).await;
        for (on, name, bytes) in [
            (&report, &attachment, &first),
            (&other_report, &other, &second),
        ] {
            let sha = name.trim_start_matches("attachments/");
            let read = restored
                .download(&token, &format!("{on}/attachments/{sha}"), 0)
                .await
                .expect("the photo downloads");
            assert_eq!(
                sha256_hex(&read),
                sha256_hex(bytes),
                "{backend:?}: the same bytes"
            );
        }
        let listed = restored
            .app
            .reports(&token)
            .list_my_reports(v1::ListMyReportsRequest::default())
            .await
            .expect("the worker's reports")
            .into_inner()
            .reports;
        assert_eq!(listed.len(), 2, "{backend:?}: both reports");
    }
}
