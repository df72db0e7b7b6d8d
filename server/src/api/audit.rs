//! `AuditService`: the audit of parties' personal data shown unmasked, listed to admins.

use gridwhistle_domain::{Action, CaseId, LedgerEntryId, ReportId};
use gridwhistle_proto::v1::{self, audit_service_server::AuditService};
use tonic::{Request, Response, Status};
use tracing::instrument;

use super::admin::user_name;
use super::closed_loop as loop_api;
use super::convert::{PageRequest, Violations, caller, timestamp};
use super::error::ApiError;
use crate::model::{RevealFilter, RevealRecord};
use crate::reveals::{RevealAudit, RevealError};

#[derive(Debug, Clone)]
pub struct AuditApi {
    audit: RevealAudit,
}

impl AuditApi {
    pub fn new(audit: RevealAudit) -> Self {
        Self { audit }
    }
}

impl From<RevealError> for ApiError {
    fn from(err: RevealError) -> Self {
        match err {
            RevealError::Access(err) => ApiError::access(err, "party reveal"),
            RevealError::Storage(err) => ApiError::from(err),
        }
    }
}

/// A subject as the audit names it: a case, a report or a ledger entry.
fn subject_name(name: &str) -> Result<String, String> {
    let (collection, id) = name.split_once('/').unwrap_or_default();
    let valid = match collection {
        "cases" => CaseId::parse(id).is_ok(),
        "reports" => ReportId::parse(id).is_ok(),
        "ledgerEntries" => LedgerEntryId::parse(id).is_ok(),
        _ => false,
    };
    if valid && !id.contains('/') {
        Ok(name.to_owned())
    } else {
        Err("must be cases/{case}, reports/{report} or ledgerEntries/{entry}".to_owned())
    }
}

fn filter_of(r: &v1::ListPartyRevealsRequest, v: &mut Violations) -> RevealFilter {
    RevealFilter {
        user: (!r.user.is_empty())
            .then(|| v.check("user", user_name(&r.user)))
            .flatten(),
        subject: (!r.subject.is_empty())
            .then(|| v.check("subject", subject_name(&r.subject)))
            .flatten(),
        since: r
            .start_time
            .as_ref()
            .and_then(|t| loop_api::time(v, "start_time", Some(t))),
        before: r
            .end_time
            .as_ref()
            .and_then(|t| loop_api::time(v, "end_time", Some(t))),
    }
}

fn reveal_to_proto(r: &RevealRecord) -> v1::PartyReveal {
    v1::PartyReveal {
        name: format!("partyReveals/{}", r.id),
        user: format!("users/{}", r.reveal.user),
        subject: r.reveal.subject.clone(),
        method: r.reveal.method.clone(),
        request_id: r.reveal.request_id.clone(),
        reveal_time: Some(timestamp(r.reveal.at)),
    }
}

#[tonic::async_trait]
impl AuditService for AuditApi {
    #[instrument(skip_all)]
    async fn list_party_reveals(
        &self,
        request: Request<v1::ListPartyRevealsRequest>,
    ) -> Result<Response<v1::ListPartyRevealsResponse>, Status> {
        let actor = caller(&request)?.actor.clone();
        // Refused before the request is read, so a caller who may not list learns nothing from its checks.
        actor
            .authorize(Action::ReadRevealAudit)
            .map_err(|e| ApiError::access(e, "party reveal"))?;
        let r = request.into_inner();
        let page = PageRequest::parse(r.page_size, &r.page_token)?;
        let mut v = Violations::default();
        let filter = filter_of(&r, &mut v);
        if let (Some(since), Some(before)) = (filter.since, filter.before)
            && before <= since
        {
            v.add("end_time", "must be after start_time");
        }
        let after = page.after.as_deref().and_then(|id| {
            v.check(
                "page_token",
                uuid::Uuid::parse_str(id)
                    .map(|_| id.to_owned())
                    .map_err(|_| "is not a page token this server issued"),
            )
        });
        v.finish()?;
        let reveals = self
            .audit
            .list(&actor, &filter, after.as_deref(), page.size)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(v1::ListPartyRevealsResponse {
            next_page_token: page.next_token(&reveals, |r| r.id.clone()),
            party_reveals: reveals.iter().map(reveal_to_proto).collect(),
        }))
    }
}
