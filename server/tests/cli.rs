//! The `gridwhistle` binary as an operator uses it: add the first admin on the command line, serve on the embedded default, log in, stop on SIGTERM; migrate; rebuild the figures' facts.

mod support;

use std::io::Write;
use std::process::{Command, Stdio};

use gridwhistle_proto::v1;
use gridwhistle_proto::v1::auth_service_client::AuthServiceClient;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use support::{gridwhistle, serve};

fn add_admin(data_dir: &std::path::Path, password: &str) -> std::process::Output {
    add_user(data_dir, "admin", password)
}

/// Adds the user `role` (named after the role) with `password` on the command line.
fn add_user(data_dir: &std::path::Path, role: &str, password: &str) -> std::process::Output {
    let mut child = gridwhistle(data_dir)
        .args(["user", "add", "--role", role, "--username", role])
        .args(["--display-name", "区用户", "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gridwhistle starts");
    let mut stdin = child.stdin.take().expect("stdin");
    writeln!(stdin, "{password}").expect("password written");
    drop(stdin);
    child.wait_with_output().expect("gridwhistle finishes")
}

#[tokio::test]
async fn the_first_admin_added_on_the_command_line_logs_in_to_a_fresh_sqlite_server() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");

    let added = add_admin(&data_dir, "first-admin-password");
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let printed = String::from_utf8(added.stdout).unwrap();
    assert!(printed.starts_with("users/"), "{printed}");
    assert!(
        data_dir.join("gridwhistle.db").exists(),
        "SQLite lives in the data directory"
    );
    let again = add_admin(&data_dir, "first-admin-password");
    assert!(
        !again.status.success(),
        "a second admin with the same name is refused"
    );
    let log = String::from_utf8_lossy(&again.stderr);
    assert!(
        !log.contains("first-admin-password"),
        "the password never reaches a log"
    );

    let (mut child, addr, log) = serve(&data_dir, &[]);
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let health = HealthClient::new(channel.clone())
        .check(HealthCheckRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(health.status(), ServingStatus::Serving);

    let mut auth = AuthServiceClient::new(channel.clone());
    let login = auth
        .login(v1::LoginRequest {
            username: "admin".to_owned(),
            password: "first-admin-password".to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(login.caller.unwrap().role(), v1::Role::Admin);
    let wrong = auth
        .login(v1::LoginRequest {
            username: "admin".to_owned(),
            password: "wrong-password".to_owned(),
        })
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), tonic::Code::Unauthenticated);

    // A supervisor asks for a case that does not exist: a client's mistake, logged as one INFO access line.
    assert!(
        add_user(&data_dir, "supervisor", "supervisor-password")
            .status
            .success()
    );
    let token = auth
        .login(v1::LoginRequest {
            username: "supervisor".to_owned(),
            password: "supervisor-password".to_owned(),
        })
        .await
        .unwrap()
        .into_inner()
        .tokens
        .unwrap()
        .access_token;
    let mut request = tonic::Request::new(v1::GetCaseRequest {
        name: format!("cases/{}", uuid::Uuid::now_v7()),
    });
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let missing = v1::case_service_client::CaseServiceClient::new(channel.clone())
        .get_case(request)
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);
    // The refusal says why in a stable reason, and which request it answered.
    use tonic_types::StatusExt as _;
    let info = missing.get_details_error_info().expect("an ErrorInfo");
    assert_eq!(
        (info.reason.as_str(), info.domain.as_str()),
        ("NOT_FOUND", "gridwhistle.v1")
    );
    assert_eq!(
        info.metadata.get("resource").map(String::as_str),
        Some("case")
    );
    let request_id = missing
        .get_details_request_info()
        .expect("a RequestInfo")
        .request_id;
    assert_eq!(
        missing
            .metadata()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some(request_id.as_str())
    );
    // A refusal the authentication interceptor makes carries them too.
    let anonymous = v1::case_service_client::CaseServiceClient::new(channel.clone())
        .get_case(v1::GetCaseRequest {
            name: format!("cases/{}", uuid::Uuid::now_v7()),
        })
        .await
        .unwrap_err();
    assert_eq!(anonymous.code(), tonic::Code::Unauthenticated);
    assert_eq!(
        anonymous.get_details_error_info().map(|i| i.reason),
        Some("UNAUTHENTICATED".to_owned())
    );
    assert!(anonymous.get_details_request_info().is_some());
    let checked = gridwhistle(&data_dir)
        .args(["healthcheck", "--address", &addr])
        .output()
        .unwrap();
    assert!(checked.status.success(), "healthcheck passes while serving");

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    // Wait off the runtime so this test's client can still answer the server's GOAWAY.
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(
        status.success(),
        "SIGTERM drains and exits cleanly: {status:?}"
    );
    let after: Vec<String> = log.iter().collect();
    let get_case: Vec<&String> = after
        .iter()
        .filter(|l| l.contains("method=/gridwhistle.v1.CaseService/GetCase"))
        .filter(|l| l.contains(&format!("request_id={request_id}")))
        .collect();
    assert_eq!(get_case.len(), 1, "one access line per call: {after:?}");
    assert!(
        get_case[0].contains(" INFO ")
            && get_case[0].contains("code=NotFound")
            && get_case[0].contains("duration_ms=")
            && get_case[0].contains("user="),
        "{}",
        get_case[0]
    );
    assert!(
        after
            .iter()
            .any(|l| l.contains("method=/gridwhistle.v1.AuthService/Login")
                && l.contains(" INFO ")
                && l.contains("code=Unauthenticated")),
        "a refused login is an INFO line: {after:?}"
    );
    assert!(
        !after.iter().any(|l| l.contains(" ERROR ")),
        "no client's mistake is an error: {after:?}"
    );
    let unchecked = gridwhistle(&data_dir)
        .args(["healthcheck", "--address", &addr])
        .output()
        .unwrap();
    assert!(
        !unchecked.status.success(),
        "a stopped server fails its healthcheck"
    );
    assert!(after.iter().any(|l| l.contains("stopped")), "{after:?}");
    assert!(
        !after.iter().any(|l| l.contains("drain timed out")),
        "{after:?}"
    );
}

#[test]
fn migrate_creates_the_schema_and_is_repeatable() {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let out = gridwhistle(dir.path()).arg("migrate").output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn statements_slower_than_the_threshold_are_logged_with_their_duration() {
    let dir = tempfile::tempdir().unwrap();
    // Creating the schema commits on a synced disk: some of its statements take over a millisecond.
    let out = gridwhistle(dir.path())
        .args(["--slow-statement-ms", "1", "migrate"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let log = String::from_utf8_lossy(&out.stderr);
    let slow: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("slow statement"))
        .collect();
    assert!(!slow.is_empty(), "{log}");
    assert!(
        slow.iter()
            .all(|l| l.contains(" WARN ") && l.contains("elapsed")),
        "{slow:?}"
    );
    // Off by 0, and quiet at the default threshold on a fresh database.
    let again = tempfile::tempdir().unwrap();
    let out = gridwhistle(again.path())
        .args(["--slow-statement-ms", "0", "migrate"])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&out.stderr).contains("slow statement"));
}

#[test]
fn rebuild_facts_runs_on_a_fresh_database_and_reports_what_it_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let out = gridwhistle(dir.path())
        .arg("rebuild-facts")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "rebuilt the facts of 0 cases (0 assignments): 0 differed from those kept step by step; \
         recounted the daily rollups: 0 counts differed"
    );
}

#[test]
fn user_add_refuses_a_role_without_its_unit_and_a_missing_password() {
    let dir = tempfile::tempdir().unwrap();
    let out = gridwhistle(dir.path())
        .args([
            "user",
            "add",
            "--role",
            "duty_officer",
            "--username",
            "duty.one",
        ])
        .args(["--display-name", "值班员", "--password-stdin"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("must be bound to a department"));
    let out = gridwhistle(dir.path())
        .args(["user", "add", "--role", "admin", "--username", "admin2"])
        .args(["--display-name", "管理员"])
        .env_remove("GRIDWHISTLE_NEW_USER_PASSWORD")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--password-stdin"));
}
