//! Abuse limits. Password guessing is throttled on every backend: a login name that fails again and again is refused (`RESOURCE_EXHAUSTED`, reason `LOGIN_THROTTLED`, with a `RetryInfo`) before any password is checked, while other users log in as usual; the throttle runs out, an admin lifts a lockout, and one client address that fails under many names is refused whatever name it tries. An overloaded replica sheds calls at once (`UNAVAILABLE`, reason `OVERLOADED`) and still answers health checks.

use std::time::Duration;

use gridwhistle_domain::Binding;
use gridwhistle_proto::v1;
use gridwhistle_server::ServerConfig;
use gridwhistle_server::auth::throttle::{ADDRESS_LIMIT, USER_FREE, USER_LOCKOUT};
use gridwhistle_tests::database::{TestDatabase, backends};
use gridwhistle_tests::{TestApp, spawn_app_on, spawn_app_with};
use tonic::Code;
use tonic_types::StatusExt as _;

const PASSWORD: &str = "correct horse battery";

async fn login(app: &TestApp, username: &str, password: &str) -> Result<(), tonic::Status> {
    app.auth()
        .login(v1::LoginRequest {
            username: username.to_owned(),
            password: password.to_owned(),
        })
        .await
        .map(|_| ())
}

/// The reason a refusal gives, and the wait its `RetryInfo` asks for.
fn refusal(status: &tonic::Status) -> (Code, String, Option<Duration>) {
    let reason = status
        .get_details_error_info()
        .map(|i| i.reason)
        .unwrap_or_default();
    let wait = status.get_details_retry_info().and_then(|r| r.retry_delay);
    (status.code(), reason, wait)
}

#[tokio::test]
async fn fifty_wrong_passwords_are_throttled_while_another_user_logs_in() {
    for backend in backends() {
        let app = spawn_app_on(TestDatabase::create(backend).await).await;
        app.add_user("wang.li", PASSWORD, Binding::Supervisor).await;
        app.add_user("zhao.min", PASSWORD, Binding::Supervisor)
            .await;
        let mut answers = Vec::new();
        for _ in 0..50 {
            let refused = login(&app, "wang.li", "a wrong guess").await.unwrap_err();
            answers.push(refusal(&refused));
        }
        let free = usize::try_from(USER_FREE).unwrap();
        assert!(
            answers[..free]
                .iter()
                .all(|(code, reason, _)| *code == Code::Unauthenticated
                    && reason == "UNAUTHENTICATED"),
            "{backend:?}: the first guesses are checked: {answers:?}"
        );
        let throttled = (
            Code::ResourceExhausted,
            "LOGIN_THROTTLED".to_owned(),
            Some(Duration::from_secs(60)),
        );
        assert!(
            answers[free..].iter().all(|a| *a == throttled),
            "{backend:?}: then the name is refused for a minute, unchecked: {answers:?}"
        );
        // The right password is refused too while the name is throttled; another user is not.
        let right = login(&app, "wang.li", PASSWORD).await.unwrap_err();
        assert_eq!(right.code(), Code::ResourceExhausted);
        login(&app, "zhao.min", PASSWORD)
            .await
            .expect("another user logs in from the same address");
        // The minute runs out: the name may try again, and a success forgets its failures.
        app.clock.advance(Duration::from_secs(61));
        login(&app, "wang.li", PASSWORD)
            .await
            .expect("the throttle ran out");
        for _ in 0..USER_FREE - 1 {
            let again = login(&app, "wang.li", "a wrong guess").await.unwrap_err();
            assert_eq!(
                again.code(),
                Code::Unauthenticated,
                "the count started again"
            );
        }
        app.stop().await.expect("a clean stop");
    }
}

#[tokio::test]
async fn a_lockout_lasts_until_an_admin_lifts_it() {
    let app = spawn_app_on(TestDatabase::create(backends()[0]).await).await;
    let user = app.add_user("wang.li", PASSWORD, Binding::Supervisor).await;
    // Each failure past the free ones waits out its throttle, until the lockout.
    for _ in 0..USER_LOCKOUT {
        login(&app, "wang.li", "a wrong guess").await.unwrap_err();
        app.clock.advance(Duration::from_secs(16 * 60));
    }
    let locked = login(&app, "wang.li", PASSWORD).await.unwrap_err();
    let (code, reason, wait) = refusal(&locked);
    assert_eq!(
        (code, reason.as_str()),
        (Code::ResourceExhausted, "LOGIN_THROTTLED")
    );
    assert!(
        wait.is_some_and(|w| w > Duration::from_secs(23 * 3600)),
        "locked out for a day: {wait:?}"
    );
    let admin = app.admin_token().await;
    let lifted = app
        .admin(&admin)
        .lift_login_lockout(v1::LiftLoginLockoutRequest {
            name: format!("users/{}", user.id),
        })
        .await
        .expect("the admin lifts the lockout")
        .into_inner();
    assert!(lifted.had_failures);
    login(&app, "wang.li", PASSWORD)
        .await
        .expect("the user logs in once the lockout is lifted");
    let missing = app
        .admin(&admin)
        .lift_login_lockout(v1::LiftLoginLockoutRequest {
            name: format!("users/{}", uuid::Uuid::now_v7()),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
}

#[tokio::test]
async fn an_address_failing_under_many_names_is_refused_whatever_name_it_tries() {
    let app = spawn_app_on(TestDatabase::create(backends()[0]).await).await;
    app.add_user("wang.li", PASSWORD, Binding::Supervisor).await;
    // Names that do not exist are counted like names that do: the refusal tells nothing.
    for n in 0..ADDRESS_LIMIT {
        let name = format!("guess.{}", n / USER_FREE);
        let refused = login(&app, &name, "a wrong guess").await.unwrap_err();
        assert_eq!(refused.code(), Code::Unauthenticated, "guess {n}");
    }
    let refused = login(&app, "wang.li", PASSWORD).await.unwrap_err();
    assert_eq!(refusal(&refused).1, "LOGIN_THROTTLED");
    app.clock.advance(Duration::from_secs(15 * 60 + 1));
    login(&app, "wang.li", PASSWORD)
        .await
        .expect("the address's throttle ran out");
}

#[tokio::test]
async fn an_overloaded_replica_sheds_calls_at_once_and_still_answers_health_checks() {
    let database = TestDatabase::create(backends()[0]).await;
    let mut config = ServerConfig::with_defaults(database.url().to_owned());
    config.max_concurrent_rpcs = 1;
    let app = spawn_app_with(database, config).await;
    app.add_user("wang.li", PASSWORD, Binding::Supervisor).await;
    // Sixteen logins at once, each a password check of tens of milliseconds, on a replica that takes one call at a time.
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let mut auth = app.auth();
        calls.spawn(async move {
            auth.login(v1::LoginRequest {
                username: "wang.li".to_owned(),
                password: PASSWORD.to_owned(),
            })
            .await
            .map(|_| ())
        });
    }
    let answers = calls.join_all().await;
    let served = answers.iter().filter(|a| a.is_ok()).count();
    let shed: Vec<_> = answers
        .iter()
        .filter_map(|a| a.as_ref().err())
        .map(refusal)
        .collect();
    assert!(served >= 1, "some calls are served");
    assert!(!shed.is_empty(), "some calls are shed");
    assert!(
        shed.iter()
            .all(|(code, reason, _)| *code == Code::Unavailable && reason == "OVERLOADED"),
        "{shed:?}"
    );
    let mut health = tonic_health::pb::health_client::HealthClient::new(app.channel.clone());
    health
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await
        .expect("health checks are never shed");
    login(&app, "wang.li", PASSWORD)
        .await
        .expect("a call alone is served");
}
