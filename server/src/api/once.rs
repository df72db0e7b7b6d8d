//! Loop steps done once per client request id (AIP-155): a retry gets the first answer, another request under the same id is `ALREADY_EXISTS`.
//!
//! The answer is rendered inside the step's transaction and stored without the report's parties; a retry gets it back with the parties as the caller may see them at the retry, after the caller's right to read the object is checked again.

use std::future::Future;
use std::sync::Arc;

use gridwhistle_domain::{Actor, CaseId, ReportId, RequestId};
use gridwhistle_proto::v1;

use super::closed_loop::parties_for;
use super::convert::{Violations, request_hash};
use super::error::ApiError;
use crate::closed_loop::{LoopError, LoopService, StepOnce};
use crate::model::{Effects, Once, ReportRecord, RequestKey};

/// A step's answer message, with the places where it shows the report's parties.
pub(crate) trait Answer: prost::Message + Default + Sized + 'static {
    fn parties_mut(&mut self) -> Vec<&mut Vec<v1::Party>>;
}

macro_rules! answers {
    ($($message:ident => [$($field:ident),*];)*) => {
        $(
            impl Answer for v1::$message {
                #[allow(unused_mut)]
                fn parties_mut(&mut self) -> Vec<&mut Vec<v1::Party>> {
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

answers! {
    ResolveOnSiteResponse => [report];
    WhistleResponse => [report, case];
    VerifyResolutionResponse => [report];
    ReportInResponse => [case];
    RecordContactResponse => [case];
    PostProgressResponse => [case];
    ReturnCaseResponse => [case];
    CompleteCaseResponse => [case];
    ReassignCaseResponse => [case];
    RegradeCaseResponse => [case];
    RequestExtensionResponse => [];
    DecideExtensionResponse => [];
    AcknowledgeSupervisionLetterResponse => [];
}

/// The request key of `message` to `method`, or `None` when the client sent no request id; a malformed id is a violation of `request_id`.
pub(crate) fn request_key(
    v: &mut Violations,
    actor: &Actor,
    method: &'static str,
    request_id: &str,
    message: &impl prost::Message,
) -> Option<RequestKey> {
    if request_id.is_empty() {
        return None;
    }
    let id = v.check(
        "request_id",
        RequestId::parse(request_id).map_err(|_| "must be a UUID"),
    )?;
    Some(RequestKey {
        user: actor.user_id,
        id,
        method,
        request_hash: request_hash(message),
    })
}

/// Builds a step's answer from what the step wrote and the parties to show.
type RenderAnswer<T, M> = Arc<dyn Fn(&T, Vec<v1::Party>) -> Result<M, ApiError> + Send + Sync>;

/// The parties of what a step wrote as the caller may see them.
type CallersParties<T> = Box<dyn Fn(&T) -> Vec<v1::Party> + Send + Sync>;

/// How a step is answered: `render` builds the answer; `parties` are the caller's view of the parties in a fresh answer (a stored answer has none).
pub(crate) struct Answering<T, M> {
    pub render: RenderAnswer<T, M>,
    pub parties: CallersParties<T>,
}

/// How a step that changes a report or case is answered: `answer` builds the answer from the record after the step (deadlines as of the step), what it wrote, and the parties to show, which a fresh answer shows as `actor` may see them.
fn on_record<M: Answer>(
    actor: &Actor,
    answer: AnswerRecord<M>,
) -> Answering<(ReportRecord, Effects), M> {
    let viewer = actor.clone();
    Answering {
        render: Arc::new(
            move |(record, effects): &(ReportRecord, Effects), parties| {
                answer(record, effects, parties)
            },
        ),
        parties: Box::new(move |(record, _)| parties_for(&viewer, record)),
    }
}

/// Builds the answer of a step on a report or case from the record after it, what it wrote, and the parties to show.
pub(crate) type AnswerRecord<M> =
    fn(&ReportRecord, &Effects, Vec<v1::Party>) -> Result<M, ApiError>;

/// Runs `step` on case `case` once per request key (see [`once`]); a retry re-reads the case as `actor` may.
pub(crate) async fn on_case<M, S, SF>(
    service: &LoopService,
    actor: &Actor,
    case: CaseId,
    key: Option<RequestKey>,
    answer: AnswerRecord<M>,
    step: S,
) -> Result<M, ApiError>
where
    M: Answer,
    S: FnOnce(Option<StepOnce>) -> SF,
    SF: Future<Output = Result<(ReportRecord, Effects), LoopError>>,
{
    let current = || async move {
        let record = service.case_record(actor, case).await?;
        Ok(parties_for(actor, &record))
    };
    once(service, key, on_record(actor, answer), current, step).await
}

/// Runs `step` on the author's report `id` once per request key (see [`once`]); a retry re-reads the report, checking the caller is still its author.
pub(crate) async fn on_report<M, S, SF>(
    service: &LoopService,
    actor: &Actor,
    id: ReportId,
    key: Option<RequestKey>,
    answer: AnswerRecord<M>,
    step: S,
) -> Result<M, ApiError>
where
    M: Answer,
    S: FnOnce(Option<StepOnce>) -> SF,
    SF: Future<Output = Result<(ReportRecord, Effects), LoopError>>,
{
    let current = || async move {
        let record = service.get_report(actor, id).await?;
        Ok(parties_for(actor, &record))
    };
    once(service, key, on_record(actor, answer), current, step).await
}

/// Runs `step` once per request key.
///
/// The step runs with its answer to store in its transaction. Under a request id done before it fails: the state it needs is gone, its etag is stale, or, should it be a step that may be repeated (progress, contact), the id is taken and its transaction rolls back.
/// A failed step under a stored id answers the stored answer once `current` has checked again that the caller may read the object, with the parties as the caller may see them now; another request under the id is `ALREADY_EXISTS`.
pub(crate) async fn once<T, M, S, SF, C, CF>(
    service: &LoopService,
    key: Option<RequestKey>,
    answering: Answering<T, M>,
    current: C,
    step: S,
) -> Result<M, ApiError>
where
    T: 'static,
    M: Answer,
    S: FnOnce(Option<Once<T>>) -> SF,
    SF: Future<Output = Result<T, LoopError>>,
    C: FnOnce() -> CF,
    CF: Future<Output = Result<Vec<v1::Party>, ApiError>>,
{
    let Answering { render, parties } = answering;
    let Some(key) = key else {
        let done = step(None).await?;
        return render(&done, parties(&done));
    };
    let stored = render.clone();
    let once = Once {
        key: key.clone(),
        render: Arc::new(move |done: &T| {
            stored(done, Vec::new())
                .map(|m| m.encode_to_vec())
                .map_err(|e| format!("{e:?}"))
        }),
    };
    // No lookup first: a repeated step fails (its state is gone, its etag stale, or its request id taken inside its own transaction, which rolls it back), and only then is the first answer read.
    match step(Some(once)).await {
        Ok(done) => render(&done, parties(&done)),
        Err(err) => match service.replayed(&key).await? {
            Some(answer) => replay(&answer, current().await?),
            None => Err(err.into()),
        },
    }
}

/// The stored answer with `parties` where it shows them.
fn replay<M: Answer>(answer: &[u8], parties: Vec<v1::Party>) -> Result<M, ApiError> {
    let mut m = M::decode(answer).map_err(ApiError::internal)?;
    for place in m.parties_mut() {
        place.clone_from(&parties);
    }
    Ok(m)
}
