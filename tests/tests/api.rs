//! End-to-end tests of the foundation over the public gRPC API: health, reflection, login, tokens, the admin directory, errors and transport limits.

use std::time::Duration;

use gridwhistle_domain::Binding;
use gridwhistle_proto::v1;
use gridwhistle_tests::database::{Backend, TestDatabase, backends};
use gridwhistle_tests::{TestApp, field_violations, spawn_app, spawn_app_on};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_stream::StreamExt;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

const PASSWORD: &str = "wang-li-password";

async fn with_worker(app: &TestApp) -> v1::TokenPair {
    app.add_user("wang.li", PASSWORD, Binding::Supervisor).await;
    app.login("wang.li", PASSWORD).await
}

#[tokio::test]
async fn health_answers_serving_and_reflection_lists_every_service() {
    let app = spawn_app().await;
    let mut health = HealthClient::new(app.channel.clone());
    let overall = health
        .check(HealthCheckRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(overall.status(), ServingStatus::Serving);
    for service in gridwhistle_proto::SERVICE_NAMES {
        let check = HealthCheckRequest {
            service: (*service).to_owned(),
        };
        let status = health.check(check).await.unwrap().into_inner();
        assert_eq!(status.status(), ServingStatus::Serving, "{service}");
    }

    let mut reflection = ServerReflectionClient::new(app.channel.clone());
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses.next().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("reflection answered {response:?}");
    };
    let listed: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for service in gridwhistle_proto::SERVICE_NAMES {
        assert!(
            listed.iter().any(|s| s == service),
            "{service} missing from {listed:?}"
        );
    }
    assert!(listed.iter().any(|s| s == "grpc.health.v1.Health"));
    app.stop().await.unwrap();
}

#[tokio::test]
async fn login_works_on_every_backend_and_whoami_names_the_caller() {
    for backend in backends() {
        let app = spawn_app_on(TestDatabase::create(backend).await).await;
        let worker = app
            .add_user("duty.zhang", PASSWORD, Binding::Supervisor)
            .await;
        let login = app
            .auth()
            .login(v1::LoginRequest {
                username: "duty.zhang".to_owned(),
                password: PASSWORD.to_owned(),
            })
            .await
            .unwrap()
            .into_inner();
        let caller = login.caller.unwrap();
        assert_eq!(caller.user, format!("users/{}", worker.id));
        assert_eq!(caller.role(), v1::Role::Supervisor);
        let tokens = login.tokens.unwrap();
        let expires = tokens.access_token_expire_time.unwrap();
        let issued = gridwhistle_tests::TEST_EPOCH.as_unix_seconds();
        assert_eq!(
            expires.seconds - issued,
            900,
            "access tokens live 15 minutes"
        );

        let mut request = tonic::Request::new(v1::WhoAmIRequest {});
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {}", tokens.access_token).parse().unwrap(),
        );
        let me = app.auth().who_am_i(request).await.unwrap().into_inner();
        assert_eq!(me.caller.unwrap().username, "duty.zhang", "{backend:?}");
        app.stop().await.unwrap();
    }
}

#[tokio::test]
async fn wrong_passwords_and_unknown_users_look_the_same() {
    let app = spawn_app().await;
    app.add_user("wang.li", PASSWORD, Binding::Supervisor).await;
    let attempts = [
        ("wang.li", "not-the-password"),
        ("nobody.here", PASSWORD),
        ("x", PASSWORD),
        ("wang.li", ""),
    ];
    for (username, password) in attempts {
        let status = app
            .auth()
            .login(v1::LoginRequest {
                username: username.to_owned(),
                password: password.to_owned(),
            })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{username}");
        assert_eq!(status.message(), "wrong credentials or an invalid token");
    }
}

#[tokio::test]
async fn an_expired_access_token_is_unauthenticated() {
    let app = spawn_app().await;
    let tokens = with_worker(&app).await;
    let call = |token: String| {
        let mut client = app.supervision(&token);
        async move {
            client
                .list_overdue(v1::ListOverdueRequest::default())
                .await
                .map_or_else(|e| e.code(), |_| Code::Ok)
        }
    };
    assert_eq!(call(tokens.access_token.clone()).await, Code::Ok);
    // Past the 15-minute lifetime and the 30-second leeway.
    app.clock.advance(Duration::from_secs(15 * 60 + 31));
    assert_eq!(call(tokens.access_token).await, Code::Unauthenticated);
}

#[tokio::test]
async fn tampered_missing_and_foreign_tokens_are_unauthenticated() {
    let app = spawn_app().await;
    let tokens = with_worker(&app).await;
    let mut parts: Vec<&str> = tokens.access_token.split('.').collect();
    let forged_signature = "A".repeat(parts[2].len());
    parts[2] = &forged_signature;
    let tampered = parts.join(".");
    for token in [tampered.as_str(), "", "not-a-jwt", "a.b.c"] {
        let status = app
            .reports(token)
            .get_report(v1::GetReportRequest::default())
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{token:?}");
    }
    let status = app.auth().who_am_i(v1::WhoAmIRequest {}).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn a_refresh_token_rotates_and_a_replay_revokes_the_session() {
    let app = spawn_app().await;
    let first = with_worker(&app).await;
    let refresh = |token: String| {
        let mut auth = app.auth();
        async move {
            auth.refresh_token(v1::RefreshTokenRequest {
                refresh_token: token,
            })
            .await
            .map(|r| r.into_inner().tokens.unwrap())
        }
    };
    let second = refresh(first.refresh_token.clone()).await.unwrap();
    assert_ne!(second.refresh_token, first.refresh_token);
    let third = refresh(second.refresh_token.clone()).await.unwrap();

    // Presenting the first token again is a replay: refused, and the whole session with it.
    let replay = refresh(first.refresh_token).await.unwrap_err();
    assert_eq!(replay.code(), Code::Unauthenticated);
    let after = refresh(third.refresh_token).await.unwrap_err();
    assert_eq!(after.code(), Code::Unauthenticated);

    // A new login opens a new session.
    let fresh = app.login("wang.li", PASSWORD).await;
    assert!(refresh(fresh.refresh_token).await.is_ok());
}

#[tokio::test]
async fn logout_ends_the_session_and_expired_refresh_tokens_are_refused() {
    let app = spawn_app().await;
    let tokens = with_worker(&app).await;
    app.auth()
        .logout(v1::LogoutRequest {
            refresh_token: tokens.refresh_token.clone(),
        })
        .await
        .unwrap();
    let status = app
        .auth()
        .refresh_token(v1::RefreshTokenRequest {
            refresh_token: tokens.refresh_token,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);

    let tokens = app.login("wang.li", PASSWORD).await;
    app.clock.advance(Duration::from_secs(30 * 24 * 3600));
    let status = app
        .auth()
        .refresh_token(v1::RefreshTokenRequest {
            refresh_token: tokens.refresh_token,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn only_admins_use_the_admin_service() {
    let app = spawn_app().await;
    let supervisor = with_worker(&app).await;
    let status = app
        .admin(&supervisor.access_token)
        .list_users(v1::ListUsersRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let status = app
        .admin(&supervisor.access_token)
        .import_grids(v1::ImportGridsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let status = app
        .admin(&supervisor.access_token)
        .lift_login_lockout(v1::LiftLoginLockoutRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn an_admin_creates_a_department_and_its_duty_officer_who_can_log_in() {
    let app = spawn_app().await;
    let admin_token = app.admin_token().await;
    let mut admin = app.admin(&admin_token);
    let department = admin
        .create_department(v1::CreateDepartmentRequest {
            department_id: "police-jianwai".to_owned(),
            department: Some(v1::Department {
                display_name: "建外派出所".to_owned(),
                department_type: "police".to_owned(),
                routing_priority: 2,
                ..Default::default()
            }),
        })
        .await
        .unwrap()
        .into_inner()
        .department
        .unwrap();
    assert_eq!(department.name, "departments/police-jianwai");

    let created = admin
        .create_user(v1::CreateUserRequest {
            user: Some(v1::User {
                username: "duty.li".to_owned(),
                display_name: "李值班".to_owned(),
                role: v1::Role::DutyOfficer.into(),
                department: "departments/police-jianwai".to_owned(),
                ..Default::default()
            }),
            password: PASSWORD.to_owned(),
        })
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert_eq!(created.department, "departments/police-jianwai");

    let login = app
        .auth()
        .login(v1::LoginRequest {
            username: "duty.li".to_owned(),
            password: PASSWORD.to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    let caller = login.caller.unwrap();
    assert_eq!(caller.department, "departments/police-jianwai");
    assert_eq!(caller.role(), v1::Role::DutyOfficer);

    // The officer may read their own record, and another user's looks exactly like a missing one.
    let officer_token = login.tokens.unwrap().access_token;
    let own = app
        .admin(&officer_token)
        .get_user(v1::GetUserRequest {
            name: created.name.clone(),
        })
        .await
        .unwrap();
    assert_eq!(own.into_inner().user.unwrap().username, "duty.li");
    let admin_user = admin
        .list_users(v1::ListUsersRequest::default())
        .await
        .unwrap()
        .into_inner()
        .users
        .into_iter()
        .find(|u| u.username == "admin")
        .unwrap();
    let hidden = app
        .admin(&officer_token)
        .get_user(v1::GetUserRequest {
            name: admin_user.name,
        })
        .await
        .unwrap_err();
    let missing = app
        .admin(&officer_token)
        .get_user(v1::GetUserRequest {
            name: format!("users/{}", uuid::Uuid::now_v7()),
        })
        .await
        .unwrap_err();
    assert_eq!(
        (hidden.code(), hidden.message()),
        (missing.code(), missing.message())
    );
    assert_eq!(hidden.code(), Code::NotFound);

    let list = admin
        .list_departments(v1::ListDepartmentsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.departments.len(), 1);
}

#[tokio::test]
async fn bad_input_names_every_offending_field_and_writes_nothing() {
    let app = spawn_app().await;
    let admin_token = app.admin_token().await;
    let mut admin = app.admin(&admin_token);
    let status = admin
        .create_user(v1::CreateUserRequest {
            user: Some(v1::User {
                username: "X".to_owned(),
                display_name: String::new(),
                role: v1::Role::GridWorker.into(),
                grid: "departments/oops".to_owned(),
                ..Default::default()
            }),
            password: "short".to_owned(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        field_violations(&status),
        [
            "user.username",
            "user.display_name",
            "password",
            "user.grid"
        ]
    );

    let status = admin
        .create_user(v1::CreateUserRequest {
            user: Some(v1::User {
                username: "grid.worker".to_owned(),
                display_name: "网格员".to_owned(),
                role: v1::Role::GridWorker.into(),
                ..Default::default()
            }),
            password: PASSWORD.to_owned(),
        })
        .await
        .unwrap_err();
    assert_eq!(field_violations(&status), ["user.grid"]);

    let status = admin
        .create_user(v1::CreateUserRequest {
            user: Some(v1::User {
                username: "grid.worker".to_owned(),
                display_name: "网格员".to_owned(),
                role: v1::Role::GridWorker.into(),
                grid: "grids/no-such-grid".to_owned(),
                ..Default::default()
            }),
            password: PASSWORD.to_owned(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(status.message(), "grid not found");

    let status = admin
        .list_users(v1::ListUsersRequest {
            page_size: -1,
            page_token: "garbage!".to_owned(),
        })
        .await
        .unwrap_err();
    assert_eq!(field_violations(&status), ["page_size", "page_token"]);

    let users = admin
        .list_users(v1::ListUsersRequest::default())
        .await
        .unwrap()
        .into_inner()
        .users;
    assert_eq!(
        users.len(),
        1,
        "only the admin exists: nothing half-written"
    );
}

#[tokio::test]
async fn disabling_a_user_ends_their_sessions_and_logins() {
    let app = spawn_app().await;
    let admin_token = app.admin_token().await;
    let worker = app.add_user("leaver", PASSWORD, Binding::Supervisor).await;
    let tokens = app.login("leaver", PASSWORD).await;
    app.admin(&admin_token)
        .update_user(v1::UpdateUserRequest {
            user: Some(v1::User {
                name: format!("users/{}", worker.id),
                disabled: true,
                ..Default::default()
            }),
            update_mask: Some(prost_types_mask(&["disabled"])),
        })
        .await
        .unwrap();
    let refresh = app
        .auth()
        .refresh_token(v1::RefreshTokenRequest {
            refresh_token: tokens.refresh_token,
        })
        .await
        .unwrap_err();
    assert_eq!(refresh.code(), Code::Unauthenticated);
    let login = app
        .auth()
        .login(v1::LoginRequest {
            username: "leaver".to_owned(),
            password: PASSWORD.to_owned(),
        })
        .await
        .unwrap_err();
    assert_eq!(login.code(), Code::Unauthenticated);
}

fn prost_types_mask(paths: &[&str]) -> ::prost_types::FieldMask {
    ::prost_types::FieldMask {
        paths: paths.iter().map(|p| (*p).to_owned()).collect(),
    }
}

#[tokio::test]
async fn oversized_messages_are_refused_and_the_server_keeps_serving() {
    let app = spawn_app().await;
    let status = app
        .auth()
        .login(v1::LoginRequest {
            username: "wang.li".to_owned(),
            password: "x".repeat(5 * 1024 * 1024),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    let mut health = HealthClient::new(app.channel.clone());
    assert!(health.check(HealthCheckRequest::default()).await.is_ok());
}

#[tokio::test]
async fn every_call_gets_a_request_id_and_keeps_one_it_was_given() {
    let app = spawn_app().await;
    let mut health = HealthClient::new(app.channel.clone());
    let response = health.check(HealthCheckRequest::default()).await.unwrap();
    let generated = response
        .metadata()
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap();
    assert_eq!(generated.len(), 36, "a UUID: {generated}");

    let mut request = tonic::Request::new(HealthCheckRequest::default());
    request
        .metadata_mut()
        .insert("x-request-id", "phone-retry-42".parse().unwrap());
    let response = health.check(request).await.unwrap();
    assert_eq!(
        response.metadata().get("x-request-id").unwrap(),
        "phone-retry-42"
    );
}

/// Sends one raw HTTP/1.1 request and returns the whole response as text.
async fn http1(app: &TestApp, request: Vec<u8>) -> String {
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    stream.write_all(&request).await.unwrap();
    let mut response = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        let mut buf = [0u8; 4096];
        loop {
            let n = stream.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            response.extend_from_slice(&buf[..n]);
            // A grpc-web response ends with its trailer frame; stop once it has arrived.
            if String::from_utf8_lossy(&response).contains("grpc-status:") {
                break;
            }
            if response.starts_with(b"HTTP/1.1 200") && request.starts_with(b"OPTIONS") {
                break;
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the server answered in time");
    String::from_utf8_lossy(&response).into_owned()
}

#[tokio::test]
async fn browsers_can_call_over_grpc_web_with_cors() {
    let app = spawn_app().await;
    let preflight = format!(
        "OPTIONS /grpc.health.v1.Health/Check HTTP/1.1\r\nHost: {}\r\nOrigin: https://console.example\r\n\
         Access-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: content-type,x-grpc-web,authorization\r\n\r\n",
        app.addr
    );
    let answer = http1(&app, preflight.into_bytes())
        .await
        .to_ascii_lowercase();
    assert!(answer.starts_with("http/1.1 200"), "{answer}");
    assert!(
        answer.contains("access-control-allow-origin: *"),
        "{answer}"
    );

    // An empty HealthCheckRequest in one grpc-web frame: flag 0, length 0.
    let body = [0u8, 0, 0, 0, 0];
    let mut call = format!(
        "POST /grpc.health.v1.Health/Check HTTP/1.1\r\nHost: {}\r\nOrigin: https://console.example\r\n\
         Content-Type: application/grpc-web+proto\r\nX-Grpc-Web: 1\r\nContent-Length: {}\r\n\r\n",
        app.addr,
        body.len()
    )
    .into_bytes();
    call.extend_from_slice(&body);
    let answer = http1(&app, call).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("application/grpc-web"), "{answer}");
    assert!(answer.contains("grpc-status:0"), "{answer}");
}

#[tokio::test]
async fn shutdown_drains_and_returns_cleanly() {
    let app = spawn_app().await;
    let _ = with_worker(&app).await;
    assert!(app.database.backend() == Backend::Sqlite);
    app.stop().await.unwrap();
}

/// WhoAmI with `token` on `app`: the code it answers.
async fn who_am_i(app: &TestApp, token: &str) -> Code {
    let mut request = tonic::Request::new(v1::WhoAmIRequest::default());
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    match app.auth().who_am_i(request).await {
        Ok(_) => Code::Ok,
        Err(status) => status.code(),
    }
}

/// Waits, within a bound, for `token` to be refused by `app`; answers whether it was.
async fn refused_soon(app: &TestApp, token: &str) -> bool {
    for _ in 0..500 {
        if who_am_i(app, token).await == Code::Unauthenticated {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn revoking_a_user_stops_their_access_tokens_on_every_replica_within_seconds() {
    for backend in backends() {
        let database = TestDatabase::create(backend).await;
        let first = spawn_app_on(database.clone()).await;
        let second = spawn_app_on(database.clone()).await;
        let admin_token = first.admin_token().await;
        let mut admin = first.admin(&admin_token);
        let mut tokens = Vec::new();
        for name in ["leaver", "forgetful", "robbed"] {
            let user = first.add_user(name, PASSWORD, Binding::Supervisor).await;
            let pair = first.login(name, PASSWORD).await;
            assert_eq!(
                who_am_i(&second, &pair.access_token).await,
                Code::Ok,
                "{backend:?}"
            );
            tokens.push((user, pair));
        }

        // Disabled through the first replica: refused there at once, and on the second within its refresh period.
        admin
            .update_user(v1::UpdateUserRequest {
                user: Some(v1::User {
                    name: format!("users/{}", tokens[0].0.id),
                    disabled: true,
                    ..Default::default()
                }),
                update_mask: Some(prost_types_mask(&["disabled"])),
            })
            .await
            .unwrap();
        assert_eq!(
            who_am_i(&first, &tokens[0].1.access_token).await,
            Code::Unauthenticated,
            "{backend:?}"
        );
        assert!(
            refused_soon(&second, &tokens[0].1.access_token).await,
            "{backend:?}"
        );

        // A new password.
        admin
            .set_user_password(v1::SetUserPasswordRequest {
                name: format!("users/{}", tokens[1].0.id),
                password: "a-brand-new-password".to_owned(),
            })
            .await
            .unwrap();
        assert!(
            refused_soon(&second, &tokens[1].1.access_token).await,
            "{backend:?}"
        );
        let fresh = second.login("forgetful", "a-brand-new-password").await;
        assert_eq!(
            who_am_i(&first, &fresh.access_token).await,
            Code::Ok,
            "a new login works"
        );

        // A refresh token replayed through the second replica revokes the access tokens the first one issued.
        let refresh = tokens[2].1.refresh_token.clone();
        let rotated = first
            .auth()
            .refresh_token(v1::RefreshTokenRequest {
                refresh_token: refresh.clone(),
            })
            .await
            .unwrap()
            .into_inner()
            .tokens
            .unwrap();
        let replay = second
            .auth()
            .refresh_token(v1::RefreshTokenRequest {
                refresh_token: refresh,
            })
            .await
            .unwrap_err();
        assert_eq!(replay.code(), Code::Unauthenticated);
        for token in [&tokens[2].1.access_token, &rotated.access_token] {
            assert_eq!(
                who_am_i(&second, token).await,
                Code::Unauthenticated,
                "{backend:?}"
            );
            assert!(refused_soon(&first, token).await, "{backend:?}");
        }
        // The others' tokens still work.
        assert_eq!(who_am_i(&second, &admin_token).await, Code::Ok);
    }
}
