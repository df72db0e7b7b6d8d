//! Retries on a flaky network: every state-changing step of the loop is sent under a client request id, its answer is lost on the way back and the client cancels the call; the retry gets the first answer, even after the case moved on, and the same id with another payload is `ALREADY_EXISTS`.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use gridwhistle_proto::v1;
use gridwhistle_proto::v1::case_service_client::CaseServiceClient;
use gridwhistle_proto::v1::report_service_client::ReportServiceClient;
use gridwhistle_proto::v1::supervision_service_client::SupervisionServiceClient;
use gridwhistle_tests::TestApp;
use gridwhistle_tests::database::backends;
use gridwhistle_tests::district::{District, duty_officer};
use gridwhistle_tests::lossy::LossyLink;
use tonic::transport::Channel;
use tonic::{Code, Status};

const WORKER: &str = "worker.g-jianwai-1-01";
const GRID: &str = "g-jianwai-1-01";

/// An answer as compared across retries: the message without the report's parties, and the parties apart (they are shown as the caller may see them at the retry).
#[derive(Debug, Clone, PartialEq)]
struct Answer {
    bytes: Vec<u8>,
    parties: Vec<Vec<v1::Party>>,
}

/// A step's answer message and where it shows the report's parties.
trait Shown: prost::Message + Default + Sized {
    fn places(&mut self) -> Vec<&mut Vec<v1::Party>>;
}

macro_rules! shown {
    ($($message:ident => [$($field:ident),*];)*) => {
        $(
            impl Shown for v1::$message {
                #[allow(unused_mut)]
                fn places(&mut self) -> Vec<&mut Vec<v1::Party>> {
                    let mut places = Vec::new();
                    $(
                        if let Some(x) = self.$field.as_mut() {
                            places.push(&mut x.parties);
                        }
                    )*
                    places
                }
            }
        )*
    };
}

shown! {
    ResolveOnSiteResponse => [report];
    WhistleResponse => [report, case];
    VerifyResolutionResponse => [report];
    ReportInResponse => [case];
    RecordContactResponse => [case];
    PostProgressResponse => [case];
    ReturnCaseResponse => [case];
    CompleteCaseResponse => [case];
    ReassignCaseResponse => [case];
    RequestExtensionResponse => [];
    DecideExtensionResponse => [];
    AcknowledgeSupervisionLetterResponse => [];
}

impl Answer {
    fn of<M: Shown>(mut m: M) -> Self {
        let parties = m.places().into_iter().map(std::mem::take).collect();
        Self {
            bytes: m.encode_to_vec(),
            parties,
        }
    }

    fn decode<M: Shown>(&self) -> M {
        M::decode(self.bytes.as_slice()).expect("an answer decodes")
    }
}

type Called = Pin<Box<dyn Future<Output = Result<Answer, Status>> + Send>>;

/// One step as a client sends it: on a channel, under a request id, with its own payload or (`other`) another.
struct Step {
    method: &'static str,
    /// The report whose version the step moves.
    report: String,
    request_id: String,
    call: Box<dyn Fn(Channel, String, bool) -> Called + Send + Sync>,
}

impl Step {
    fn new<F, Fut, M>(method: &'static str, report: &str, call: F) -> Self
    where
        F: Fn(Channel, String, bool) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<tonic::Response<M>, Status>> + Send + 'static,
        M: Shown,
    {
        Self {
            method,
            report: report.to_owned(),
            request_id: uuid::Uuid::new_v4().to_string(),
            call: Box::new(move |channel, id, other| {
                let call = call(channel, id, other);
                Box::pin(async move { call.await.map(|r| Answer::of(r.into_inner())) })
            }),
        }
    }

    fn send(&self, channel: &Channel, other: bool) -> Called {
        (self.call)(channel.clone(), self.request_id.clone(), other)
    }
}

/// The report's etag (its event count) as its author reads it.
async fn version(app: &TestApp, worker: &str, report: &str) -> String {
    app.reports(worker)
        .get_report(v1::GetReportRequest {
            name: report.to_owned(),
        })
        .await
        .expect("the author reads the report")
        .into_inner()
        .report
        .expect("a report")
        .etag
}

/// Sends `step` through the link while its answer is lost, waits until the server has done it, cancels the call, and retries on a working connection; answers the retry's answer.
async fn lost_then_retried(district: &District, link: &LossyLink, step: &Step) -> Answer {
    let app = &district.app;
    let worker = district.token(WORKER).await;
    let before = version(app, &worker, &step.report).await;
    let lossy = link.connect().await.expect("a connection through the link");
    link.lose_answers(true);
    let mut pending = step.send(&lossy, false);
    let mut after = before.clone();
    for _ in 0..500 {
        tokio::select! {
            answered = &mut pending => panic!("{}: the answer was to be lost, got {answered:?}", step.method),
            () = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
        after = version(app, &worker, &step.report).await;
        if after != before {
            break;
        }
    }
    assert_ne!(after, before, "{}: the server did the step", step.method);
    // The client gives up waiting: the call is cancelled.
    drop(pending);
    link.lose_answers(false);

    let retried = step
        .send(&app.channel, false)
        .await
        .unwrap_or_else(|e| panic!("{}: the retry gets the first answer: {e:?}", step.method));
    assert_eq!(
        version(app, &worker, &step.report).await,
        after,
        "{}: the retry did not do the step again",
        step.method
    );
    let reused = step
        .send(&app.channel, true)
        .await
        .expect_err("another payload under the same id");
    assert_eq!(
        reused.code(),
        Code::AlreadyExists,
        "{}: {reused:?}",
        step.method
    );
    assert!(
        reused.message().contains("request_id"),
        "{}: {}",
        step.method,
        reused.message()
    );
    retried
}

fn reports(channel: Channel, token: &str) -> ReportServiceClient<gridwhistle_tests::Authed> {
    ReportServiceClient::with_interceptor(channel, TestApp::bearer(token))
}

fn cases(channel: Channel, token: &str) -> CaseServiceClient<gridwhistle_tests::Authed> {
    CaseServiceClient::with_interceptor(channel, TestApp::bearer(token))
}

fn supervision(
    channel: Channel,
    token: &str,
) -> SupervisionServiceClient<gridwhistle_tests::Authed> {
    SupervisionServiceClient::with_interceptor(channel, TestApp::bearer(token))
}

fn text(other: bool, first: &str) -> String {
    if other {
        format!("{first}（另一份）")
    } else {
        first.to_owned()
    }
}

fn seconds_after(app: &TestApp, seconds: i64) -> prost_types::Timestamp {
    use gridwhistle_dispatcher::Clock as _;
    prost_types::Timestamp {
        seconds: app.clock.now().as_unix_millis() / 1000 + seconds,
        nanos: 0,
    }
}

/// A department's step on the case `name` as its duty officer.
fn officer_step<F, Fut, M>(
    method: &'static str,
    report: &str,
    token: &str,
    name: &str,
    call: F,
) -> Step
where
    F: Fn(CaseServiceClient<gridwhistle_tests::Authed>, String, String, bool) -> Fut
        + Send
        + Sync
        + 'static,
    Fut: Future<Output = Result<tonic::Response<M>, Status>> + Send + 'static,
    M: Shown,
{
    let (token, name) = (token.to_owned(), name.to_owned());
    Step::new(method, report, move |channel, id, other| {
        call(cases(channel, &token), name.clone(), id, other)
    })
}

#[tokio::test]
async fn each_step_retried_after_its_answer_was_lost_gets_the_first_answer_and_a_reused_id_is_refused()
 {
    for backend in backends() {
        let district = District::start(backend).await;
        let app = &district.app;
        let link = LossyLink::start(app.addr).await.expect("the link starts");
        let worker = district.token(WORKER).await;
        let supervisor = district.token("supervisor").await;
        let report = district
            .file_report(WORKER, GRID, "neighbour-dispute")
            .await;
        let mut done: Vec<(Step, Answer)> = Vec::new();

        let whistle = {
            let (token, name) = (worker.clone(), report.name.clone());
            Step::new(
                "Whistle",
                &report.name,
                move |channel, request_id, other| {
                    let request = v1::WhistleRequest {
                        name: name.clone(),
                        kind: v1::WhistleKind::Routine.into(),
                        note: text(other, "需要街道和派出所协同"),
                        request_id,
                        ..Default::default()
                    };
                    let mut client = reports(channel, &token);
                    async move { client.whistle(request).await }
                },
            )
        };
        let answer = lost_then_retried(&district, &link, &whistle).await;
        let case = answer
            .decode::<v1::WhistleResponse>()
            .case
            .expect("the whistle opened a case");
        done.push((whistle, answer));
        let street = case.assignments[0].department.clone();
        let police = case.assignments[1].department.clone();
        let street_token = district.token(&duty_officer(&street)).await;
        let police_token = district.token(&duty_officer(&police)).await;

        // The assisting police report in, reach the parties, post progress.
        let police_steps = [
            officer_step(
                "ReportIn",
                &report.name,
                &police_token,
                &case.name,
                |mut c, name, request_id, other| {
                    let request = v1::ReportInRequest {
                        name,
                        etag: if other { "1".to_owned() } else { String::new() },
                        request_id,
                        ..Default::default()
                    };
                    async move { c.report_in(request).await }
                },
            ),
            officer_step(
                "RecordContact",
                &report.name,
                &police_token,
                &case.name,
                |mut c, name, request_id, other| {
                    let request = v1::RecordContactRequest {
                        name,
                        note: text(other, "已电话联系双方"),
                        request_id,
                        ..Default::default()
                    };
                    async move { c.record_contact(request).await }
                },
            ),
            officer_step(
                "PostProgress",
                &report.name,
                &police_token,
                &case.name,
                |mut c, name, request_id, other| {
                    let request = v1::PostProgressRequest {
                        name,
                        text: text(other, "已到场调解"),
                        request_id,
                        ..Default::default()
                    };
                    async move { c.post_progress(request).await }
                },
            ),
        ];
        for step in police_steps {
            let answer = lost_then_retried(&district, &link, &step).await;
            done.push((step, answer));
        }

        // The lead reports in (without a request id) and asks for more time; the supervisor approves.
        cases(app.channel.clone(), &street_token)
            .report_in(v1::ReportInRequest {
                name: case.name.clone(),
                ..Default::default()
            })
            .await
            .expect("the street office reports in");
        // Due in ten minutes: by the late retries below it lies in the past, which must not refuse them.
        let due = seconds_after(app, 10 * 60);
        let extend = officer_step(
            "RequestExtension",
            &report.name,
            &street_token,
            &case.name,
            move |mut c, name, request_id, other| {
                let request = v1::RequestExtensionRequest {
                    name,
                    stage: v1::DeadlineStage::Finish.into(),
                    requested_due_time: Some(due),
                    reason: text(other, "需协调物业"),
                    request_id,
                };
                async move { c.request_extension(request).await }
            },
        );
        let answer = lost_then_retried(&district, &link, &extend).await;
        let extension = answer
            .decode::<v1::RequestExtensionResponse>()
            .extension
            .expect("the request is answered with its extension");
        done.push((extend, answer));
        let decide = {
            let (token, name) = (supervisor.clone(), extension.name.clone());
            Step::new(
                "DecideExtension",
                &report.name,
                move |channel, request_id, other| {
                    let request = v1::DecideExtensionRequest {
                        name: name.clone(),
                        approved: true,
                        reason: text(other, "同意"),
                        request_id,
                        ..Default::default()
                    };
                    let mut client = supervision(channel, &token);
                    async move { client.decide_extension(request).await }
                },
            )
        };
        let answer = lost_then_retried(&district, &link, &decide).await;
        assert_eq!(
            answer
                .decode::<v1::DecideExtensionResponse>()
                .extension
                .map(|x| x.state()),
            Some(v1::ExtensionState::Approved)
        );
        done.push((decide, answer));

        // A letter to the street office, answered by it.
        let letter = supervision(app.channel.clone(), &supervisor)
            .issue_supervision_letter(v1::IssueSupervisionLetterRequest {
                letter_id: uuid::Uuid::new_v4().to_string(),
                department: street.clone(),
                cases: vec![case.name.clone()],
                text: "请于两小时内书面答复".to_owned(),
                reply_due_time: Some(seconds_after(app, 2 * 3600)),
            })
            .await
            .expect("the letter is issued")
            .into_inner()
            .letter
            .expect("a letter");
        let acknowledge = {
            let (token, name) = (street_token.clone(), letter.name.clone());
            Step::new(
                "AcknowledgeSupervisionLetter",
                &report.name,
                move |channel, request_id, other| {
                    let request = v1::AcknowledgeSupervisionLetterRequest {
                        name: name.clone(),
                        reply: text(other, "已整改"),
                        request_id,
                    };
                    let mut client = cases(channel, &token);
                    async move { client.acknowledge_supervision_letter(request).await }
                },
            )
        };
        let answer = lost_then_retried(&district, &link, &acknowledge).await;
        done.push((acknowledge, answer));

        // The police return the case; the supervisor sets its departments by hand.
        let give_back = officer_step(
            "ReturnCase",
            &report.name,
            &police_token,
            &case.name,
            |mut c, name, request_id, other| {
                let request = v1::ReturnCaseRequest {
                    name,
                    reason: text(other, "不属于派出所职责"),
                    request_id,
                    ..Default::default()
                };
                async move { c.return_case(request).await }
            },
        );
        let answer = lost_then_retried(&district, &link, &give_back).await;
        done.push((give_back, answer));
        let reassign = {
            let (token, name, lead) = (supervisor.clone(), case.name.clone(), street.clone());
            Step::new(
                "ReassignCase",
                &report.name,
                move |channel, request_id, other| {
                    let request = v1::ReassignCaseRequest {
                        name: name.clone(),
                        lead_department: lead.clone(),
                        assisting_departments: vec!["departments/housing".to_owned()],
                        reason: text(other, "物业问题由住建协办"),
                        request_id,
                        ..Default::default()
                    };
                    let mut client = supervision(channel, &token);
                    async move { client.reassign_case(request).await }
                },
            )
        };
        let answer = lost_then_retried(&district, &link, &reassign).await;
        done.push((reassign, answer));

        // The lead completes, the grid worker accepts.
        let complete = officer_step(
            "CompleteCase",
            &report.name,
            &street_token,
            &case.name,
            |mut c, name, request_id, other| {
                let request = v1::CompleteCaseRequest {
                    name,
                    result: text(other, "双方达成和解，杂物已清理"),
                    request_id,
                    ..Default::default()
                };
                async move { c.complete_case(request).await }
            },
        );
        let answer = lost_then_retried(&district, &link, &complete).await;
        done.push((complete, answer));
        let verify = {
            let (token, name) = (worker.clone(), report.name.clone());
            Step::new(
                "VerifyResolution",
                &report.name,
                move |channel, request_id, other| {
                    let request = v1::VerifyResolutionRequest {
                        name: name.clone(),
                        accepted: true,
                        satisfaction: if other { 4 } else { 5 },
                        request_id,
                        ..Default::default()
                    };
                    let mut client = reports(channel, &token);
                    async move { client.verify_resolution(request).await }
                },
            )
        };
        let answer = lost_then_retried(&district, &link, &verify).await;
        done.push((verify, answer));

        // Another report, settled on the spot.
        let small = district
            .file_report(WORKER, GRID, "neighbour-dispute")
            .await;
        let settle = {
            let (token, name) = (worker.clone(), small.name.clone());
            Step::new(
                "ResolveOnSite",
                &small.name,
                move |channel, request_id, other| {
                    let request = v1::ResolveOnSiteRequest {
                        name: name.clone(),
                        resolution: text(other, "当场劝解，已清理"),
                        request_id,
                        ..Default::default()
                    };
                    let mut client = reports(channel, &token);
                    async move { client.resolve_on_site(request).await }
                },
            )
        };
        let answer = lost_then_retried(&district, &link, &settle).await;
        done.push((settle, answer));
        assert_eq!(done.len(), 12, "every state-changing step of the loop");

        // Later (the extension's requested due time has passed; the tokens are still valid), with the case closed: each retry still gets its first answer (the etag, states and times of then).
        app.clock.advance(Duration::from_secs(11 * 60));
        // The parties are as the caller may see them now: the police returned the case, so theirs are masked.
        for (step, first) in &done {
            let again = step
                .send(&app.channel, false)
                .await
                .unwrap_or_else(|e| panic!("{}: {e:?}", step.method));
            assert_eq!(again.bytes, first.bytes, "{} on {backend:?}", step.method);
            let police_step = matches!(
                step.method,
                "ReportIn" | "RecordContact" | "PostProgress" | "ReturnCase"
            );
            if police_step {
                assert!(
                    again.parties.iter().flatten().all(|p| p.masked),
                    "{}: {:?}",
                    step.method,
                    again.parties
                );
            } else {
                assert_eq!(again.parties, first.parties, "{}", step.method);
            }
        }
        let police_in = &done[1].1;
        assert!(
            police_in.parties.iter().flatten().all(|p| !p.masked),
            "the police saw the parties while on the case"
        );
        let timeline = district.case_as("supervisor", &case.name).await.timeline;
        let count = |kind: v1::CaseEventKind| timeline.iter().filter(|e| e.kind() == kind).count();
        for kind in [
            v1::CaseEventKind::Whistled,
            v1::CaseEventKind::Contacted,
            v1::CaseEventKind::Progress,
            v1::CaseEventKind::ExtensionRequested,
            v1::CaseEventKind::ExtensionDecided,
            v1::CaseEventKind::SupervisionLetterAnswered,
            v1::CaseEventKind::Returned,
            v1::CaseEventKind::Reassigned,
            v1::CaseEventKind::Completed,
            v1::CaseEventKind::Verified,
        ] {
            assert_eq!(count(kind), 1, "{kind:?} once on {backend:?}");
        }
    }
}

#[tokio::test]
async fn a_request_id_is_the_callers_own_and_must_be_a_uuid() {
    for backend in backends() {
        let district = District::start(backend).await;
        let app = &district.app;
        let (_, case) = district.whistle_dispute(v1::RiskGrade::C).await;
        let street = case.assignments[0].department.clone();
        let police = case.assignments[1].department.clone();
        let request_id = uuid::Uuid::new_v4().to_string();
        let report_in = |request_id: &str| v1::ReportInRequest {
            name: case.name.clone(),
            request_id: request_id.to_owned(),
            ..Default::default()
        };
        let mut street_cases = app.cases(&district.token(&duty_officer(&street)).await);
        street_cases
            .report_in(report_in(&request_id))
            .await
            .expect("the street office reports in");
        // Another caller's step under the same id is theirs: no conflict, no replay of the street office's answer.
        let by_police = app
            .cases(&district.token(&duty_officer(&police)).await)
            .report_in(report_in(&request_id))
            .await
            .expect("the police report in under an id of their own")
            .into_inner()
            .case
            .expect("a case");
        assert_eq!(
            by_police
                .assignments
                .iter()
                .filter(|a| a.state() == v1::AssignmentState::ReportedIn)
                .count(),
            2
        );
        // The same caller's id on another method is another request.
        let reused = street_cases
            .post_progress(v1::PostProgressRequest {
                name: case.name.clone(),
                text: "已到场".to_owned(),
                request_id: request_id.clone(),
                ..Default::default()
            })
            .await
            .expect_err("the id was used for reporting in");
        assert_eq!(reused.code(), Code::AlreadyExists, "{reused:?}");

        let bad = street_cases
            .report_in(report_in("not-a-uuid"))
            .await
            .expect_err("a malformed id");
        assert_eq!(bad.code(), Code::InvalidArgument);
        assert_eq!(
            gridwhistle_tests::field_violations(&bad),
            vec!["request_id".to_owned()]
        );
        // Without an id, a repeated step is refused by the state machine, as before.
        let repeated = street_cases
            .report_in(report_in(""))
            .await
            .expect_err("the street office already reported in");
        assert_eq!(repeated.code(), Code::FailedPrecondition);
    }
}
