//! Push delivery against a local fake FCM (OAuth token endpoint and `messages:send`), on every backend: scripted faults end in delivery or a dead letter with nothing lost or sent twice, invalid tokens are deactivated, the concurrency cap holds; devices, the inbox and its stream through the API; and a whistle's push end to end.

use std::collections::HashMap;
use std::time::Duration;

use gridwhistle_dispatcher::push::{RetryPolicy, SenderConfig};
use gridwhistle_fake_fcm::Fault;
use gridwhistle_proto::v1;
use gridwhistle_tests::district::{District, duty_officer};
use gridwhistle_tests::{Backend, database::backends};
use tokio_stream::StreamExt;
use tonic::Code;

const WORKER: &str = "worker.g-jianwai-1-01";

/// Files and whistles a neighbour dispute of grade B; returns the case.
async fn whistled(district: &District) -> v1::Case {
    district.whistle_dispute(v1::RiskGrade::B).await.1
}

async fn register(district: &District, user: &str, token: &str) -> v1::Device {
    district
        .app
        .devices(&district.token(user).await)
        .register_device(v1::RegisterDeviceRequest {
            device_id: uuid::Uuid::new_v4().to_string(),
            push_token: token.to_owned(),
            platform: v1::Platform::Android.into(),
            channel: v1::PushChannel::Fcm.into(),
            app_version: "2.3.0".to_owned(),
            locale: "zh-CN".to_owned(),
        })
        .await
        .expect("the device registers")
        .into_inner()
        .device
        .expect("a device")
}

async fn user_id(district: &District, username: &str) -> gridwhistle_domain::UserId {
    district
        .app
        .database
        .store()
        .await
        .directory()
        .find_credentials(&gridwhistle_domain::Username::parse(username).unwrap())
        .await
        .unwrap()
        .expect("a demo user")
        .user
        .id
}

/// How many deliveries stand in each state.
async fn counts(district: &District) -> HashMap<String, u64> {
    district
        .app
        .database
        .store()
        .await
        .outbox()
        .counts()
        .await
        .unwrap()
        .into_iter()
        .collect()
}

/// The statuses the fake answered sends to `token`, leaving out refusals of an expired access token (which the client follows with a fresh one at once).
fn attempts_to(fcm: &gridwhistle_fake_fcm::FakeFcm, token: &str) -> Vec<u16> {
    fcm.attempts()
        .into_iter()
        .filter(|a| a.token == token && a.status != 401)
        .map(|a| a.status)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripted_faults_end_in_delivery_or_a_dead_letter_with_nothing_lost_or_sent_twice() {
    for backend in backends() {
        scripted_faults(backend).await;
    }
}

async fn scripted_faults(backend: Backend) {
    let district = District::start(backend).await;
    let case = whistled(&district).await;
    let lead = case.assignments[0].department.clone();
    let officer = duty_officer(&lead);
    let retry = RetryPolicy {
        first: Duration::from_secs(2),
        cap: Duration::from_secs(60),
        max_attempts: 4,
    };
    let sender = district
        .app
        .push_sender(SenderConfig {
            retry,
            ..SenderConfig::default()
        })
        .await;
    let before_devices = sender.run_due().await.unwrap();
    assert_eq!(before_devices.sent, 0, "nobody has a phone yet");
    // One duty officer with six phones, each token scripted differently.
    let tokens = [
        "tok-quota",
        "tok-timeout",
        "tok-unregistered",
        "tok-invalid",
        "tok-down",
        "tok-fine",
    ];
    for token in tokens {
        register(&district, &officer, token).await;
    }
    let fcm = &district.app.fcm;
    fcm.script(
        "tok-quota",
        [
            Fault::QuotaExceeded {
                retry_after_secs: 120,
            },
            Fault::Unavailable,
        ],
    );
    fcm.script("tok-timeout", [Fault::Hang(Duration::from_secs(60))]);
    fcm.unregister("tok-unregistered");
    fcm.script("tok-invalid", [Fault::InvalidArgument]);
    fcm.script("tok-down", vec![Fault::Internal; 20]);
    // A second case after the devices exist: one notification for every phone.
    let second = whistled(&district).await;
    assert_ne!(case.name, second.name);

    let first = sender.run_due().await.unwrap();
    assert_eq!(
        (first.sent, first.dropped),
        (1, 2),
        "fine sent; unregistered and invalid dropped: {first:?}"
    );
    assert_eq!(attempts_to(fcm, "tok-quota"), [429]);
    assert_eq!(attempts_to(fcm, "tok-invalid"), [400], "never retried");
    assert_eq!(attempts_to(fcm, "tok-unregistered"), [404]);
    assert_eq!(
        attempts_to(fcm, "tok-timeout"),
        [0],
        "no answer before the timeout"
    );

    // Retry-After is honoured: a minute later the 429 is not retried, the others are.
    district.app.clock.advance(Duration::from_secs(60));
    sender.run_due().await.unwrap();
    assert_eq!(attempts_to(fcm, "tok-quota"), [429]);
    assert_eq!(attempts_to(fcm, "tok-timeout"), [0, 200]);

    // An access token that expired early is replaced once, and the send goes through.
    let issued = fcm.tokens_issued();
    fcm.expire_access_tokens();
    for _ in 0..10 {
        district.app.clock.advance(Duration::from_secs(90));
        sender.run_due().await.unwrap();
    }
    assert_eq!(
        fcm.tokens_issued(),
        issued + 1,
        "one refresh for every send refused"
    );
    assert!(fcm.attempts().iter().any(|a| a.status == 401));
    assert_eq!(attempts_to(fcm, "tok-quota"), [429, 503, 200]);
    assert_eq!(attempts_to(fcm, "tok-down"), [500, 500, 500, 500]);

    // Every delivery ended: sent, dropped or dead; none is left queued.
    let states = counts(&district).await;
    assert_eq!(states.get("delivery:queued"), None, "{states:?}");
    assert_eq!(states.get("delivery:sent"), Some(&3), "{states:?}");
    assert_eq!(states.get("delivery:dropped"), Some(&2), "{states:?}");
    assert_eq!(states.get("delivery:dead"), Some(&1), "{states:?}");
    assert_eq!(states.get("notification:queued"), None, "{states:?}");

    // No message was accepted twice for one phone.
    let accepted = fcm.accepted();
    let mut per_token: HashMap<&str, usize> = HashMap::new();
    for a in &accepted {
        *per_token.entry(a.token.as_str()).or_default() += 1;
    }
    assert_eq!(per_token.get("tok-fine"), Some(&1));
    assert_eq!(per_token.get("tok-quota"), Some(&1));
    assert_eq!(per_token.get("tok-timeout"), Some(&1));
    assert_eq!(per_token.get("tok-invalid"), None);
    assert_eq!(accepted.len(), 3);

    // The unregistered token's device is deactivated; the others stay active.
    let store = district.app.database.store().await;
    let user = user_id(&district, &officer).await;
    let devices = store.devices().of_user(&user).await.unwrap();
    assert_eq!(devices.len(), 6);
    assert_eq!(devices.iter().filter(|d| !d.active).count(), 1);

    // Supervisors see the dead letter; a duty officer may not look.
    district.forget_tokens().await;
    let dead = district
        .app
        .supervision(&district.token("supervisor").await)
        .list_dead_letters(v1::ListDeadLettersRequest::default())
        .await
        .unwrap()
        .into_inner()
        .dead_letters;
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].subject, second.name);
    assert_eq!(dead[0].kind(), v1::NotificationKind::CaseAssigned);
    assert_eq!(dead[0].attempts, 4);
    assert_eq!(dead[0].last_error, "INTERNAL");
    assert_eq!(dead[0].department, lead);
    let refused = district
        .app
        .supervision(&district.token(&officer).await)
        .list_dead_letters(v1::ListDeadLettersRequest::default())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn the_concurrency_cap_holds_and_a_met_stage_is_not_pushed() {
    for backend in backends() {
        let district = District::start(backend).await;
        let case = whistled(&district).await;
        let lead = case.assignments[0].department.clone();
        let officer = duty_officer(&lead);
        for i in 0..12 {
            register(&district, &officer, &format!("tok-{i}")).await;
        }
        for _ in 0..4 {
            whistled(&district).await;
        }
        let fcm = &district.app.fcm;
        let sender = district
            .app
            .push_sender(SenderConfig {
                concurrency: 3,
                ..SenderConfig::default()
            })
            .await;
        // Recipients are resolved when the sender gets to a notification: the first case reaches the phones registered after it, too.
        let drained = sender.run_due().await.unwrap();
        assert_eq!(drained.sent, 5 * 12);
        assert!(
            fcm.max_in_flight() <= 3,
            "{} in flight at once",
            fcm.max_in_flight()
        );

        // A reminder queued for a stage that is met before the sender gets to it is skipped, not pushed.
        let engine = district.app.engine().await;
        let newest = whistled(&district).await;
        district.app.clock.advance(Duration::from_secs(25 * 60));
        engine.run_due().await.unwrap();
        district.forget_tokens().await;
        district
            .app
            .cases(&district.token(&officer).await)
            .report_in(v1::ReportInRequest {
                name: newest.name.clone(),
                ..Default::default()
            })
            .await
            .unwrap();
        let outbox = district
            .app
            .database
            .store()
            .await
            .outbox()
            .of_report(
                &gridwhistle_domain::ReportId::parse(
                    newest.report.strip_prefix("reports/").unwrap(),
                )
                .unwrap(),
            )
            .await
            .unwrap();
        assert!(
            outbox.iter().any(
                |(audience, kind, department, _)| audience == "duty_officers"
                    && kind == "reminder"
                    && department.as_deref() == lead.strip_prefix("departments/")
            ),
            "the lead's report-in reminder was queued: {outbox:?}"
        );
        sender.run_due().await.unwrap();
        let kinds: Vec<_> = fcm
            .accepted()
            .into_iter()
            .filter(|a| a.body["message"]["data"]["subject"] == newest.name.as_str())
            .map(|a| a.body["message"]["data"]["kind"].clone())
            .collect();
        assert!(kinds.iter().any(|k| k == "case_assigned"), "{kinds:?}");
        assert!(
            !kinds.iter().any(|k| k == "reminder"),
            "no reminder pushed for a met stage: {kinds:?}"
        );
    }
}

#[tokio::test]
async fn devices_belong_to_their_user_and_bad_fields_are_named() {
    let district = District::start(Backend::Sqlite).await;
    let token = district.token(WORKER).await;
    let mut devices = district.app.devices(&token);
    let status = devices
        .register_device(v1::RegisterDeviceRequest {
            device_id: "not-a-uuid".into(),
            push_token: "has space".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let details = tonic_types::StatusExt::get_details_bad_request(&status).unwrap();
    let fields: Vec<_> = details
        .field_violations
        .iter()
        .map(|v| v.field.as_str())
        .collect();
    assert_eq!(fields, ["device_id", "push_token", "platform", "channel"]);

    let device = register(&district, WORKER, "tok-phone").await;
    assert!(device.active);
    // Registering again is idempotent on the device id; another installation with the same token takes it over.
    let again = register(&district, "supervisor", "tok-phone").await;
    assert!(again.active);
    let store = district.app.database.store().await;
    let worker = user_id(&district, WORKER).await;
    assert!(!store.devices().of_user(&worker).await.unwrap()[0].active);

    // Another user's device is as missing as one that never existed.
    let refused = district
        .app
        .devices(&district.token("supervisor").await)
        .unregister_device(v1::UnregisterDeviceRequest {
            name: device.name.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::NotFound);
    devices
        .unregister_device(v1::UnregisterDeviceRequest {
            name: device.name.clone(),
        })
        .await
        .unwrap();
    assert!(store.devices().of_user(&worker).await.unwrap().is_empty());

    // The inbox's fields are checked like the rest: a timestamp out of range is named.
    let status = devices
        .mark_notifications_read(v1::MarkNotificationsReadRequest {
            names: vec!["notifications/not-a-uuid".into()],
            all_before: Some(prost_types::Timestamp {
                seconds: 0,
                nanos: -1,
            }),
        })
        .await
        .unwrap_err();
    let details = tonic_types::StatusExt::get_details_bad_request(&status).unwrap();
    let fields: Vec<_> = details
        .field_violations
        .iter()
        .map(|v| v.field.as_str())
        .collect();
    assert_eq!(fields, ["names[0]", "all_before"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whistle_pushes_to_the_summoned_duty_officers_and_lands_in_their_inbox() {
    for backend in backends() {
        whistle_end_to_end(backend).await;
    }
}

async fn whistle_end_to_end(backend: Backend) {
    let district = District::start_with(backend, |config| config.push.sender = true).await;
    // Learn which department this grid and category go to, and give its duty officer a phone.
    let first = whistled(&district).await;
    let lead = first.assignments[0].department.clone();
    let officer = duty_officer(&lead);
    register(&district, &officer, "tok-officer-phone").await;
    let mut inbox = district.app.devices(&district.token(&officer).await);
    let mut stream = inbox
        .watch_notifications(v1::WatchNotificationsRequest::default())
        .await
        .unwrap()
        .into_inner();

    let (_, case) = district.whistle_dispute(v1::RiskGrade::A).await;
    assert_eq!(case.assignments[0].department, lead);

    // The stream brings the new notification. A stream started "now" may also replay one committed just before it (its horizon is the oldest running transaction on PostgreSQL): here only the first case's.
    let streamed = loop {
        let item = tokio::time::timeout(Duration::from_secs(30), stream.next())
            .await
            .expect("the stream answers")
            .unwrap()
            .unwrap();
        let subject = &item.notification.as_ref().unwrap().subject;
        if *subject == case.name {
            break item;
        }
        assert_eq!(*subject, first.name, "only the first case may come before");
    };
    let notification = streamed.notification.unwrap();
    assert_eq!(notification.subject, case.name);
    assert_eq!(notification.kind(), v1::NotificationKind::CaseAssigned);

    // The server's own sender pushes it to the phone; wait for that outcome.
    let fcm = &district.app.fcm;
    let mut pushed = Vec::new();
    for _ in 0..600 {
        pushed = fcm
            .accepted()
            .into_iter()
            .filter(|a| a.token == "tok-officer-phone")
            .collect();
        if !pushed.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(pushed.len(), 1, "one push to the officer's phone");
    let body = &pushed[0].body;
    let message = &body["message"];
    assert_eq!(message["data"]["subject"], case.name.as_str());
    assert_eq!(message["data"]["kind"], "case_assigned");
    assert_eq!(
        message["data"]["notification"],
        notification.name.strip_prefix("notifications/").unwrap()
    );
    assert_eq!(
        message["android"]["priority"], "HIGH",
        "grade A wakes the phone"
    );
    assert_eq!(message["apns"]["headers"]["apns-priority"], "10");
    let text = body.to_string();
    for personal in [
        "张三丰",
        "13800138000",
        "11010519491231002X",
        "楼道堆放杂物",
    ] {
        assert!(
            !text.contains(personal),
            "the push carries {personal}: {text}"
        );
    }

    // The inbox holds both cases' notifications, newest first; marking one read counts down.
    let listed = inbox
        .list_notifications(v1::ListNotificationsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let subjects: Vec<_> = listed
        .notifications
        .iter()
        .map(|n| n.subject.as_str())
        .collect();
    assert_eq!(subjects, [case.name.as_str(), first.name.as_str()]);
    assert_eq!(listed.unread_count, 2);
    let marked = inbox
        .mark_notifications_read(v1::MarkNotificationsReadRequest {
            names: vec![notification.name.clone()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(marked.marked_count, 1);
    let unread = inbox
        .list_notifications(v1::ListNotificationsRequest {
            unread_only: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(unread.unread_count, 1);
    assert_eq!(unread.notifications[0].subject, first.name);

    // A stream resumed from a cursor replays what came after it: a third case's notification, not the second's.
    let third = whistled(&district).await;
    let mut replay = inbox
        .watch_notifications(v1::WatchNotificationsRequest {
            cursor: streamed.cursor.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let next = tokio::time::timeout(Duration::from_secs(30), replay.next())
        .await
        .expect("the resumed stream answers")
        .unwrap()
        .unwrap();
    assert_eq!(next.notification.unwrap().subject, third.name);
    let status = inbox
        .watch_notifications(v1::WatchNotificationsRequest {
            cursor: "not-a-cursor".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);

    // Other audiences do not see it: another department's duty officer, and the grid worker (until the result is ready).
    let other = district
        .app
        .devices(&district.token("duty.hr-north").await)
        .list_notifications(v1::ListNotificationsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(
        other.notifications.iter().all(|n| n.subject != case.name),
        "{other:?}"
    );
    let worker = district
        .app
        .devices(&district.token(WORKER).await)
        .list_notifications(v1::ListNotificationsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(worker.notifications.is_empty(), "{worker:?}");
}
