//! Supervision letters (督办函): issued idempotently on the supervisor's letter id, with their timeline events, reply deadline and outbox row in the same transaction, and answered once by the department.

use std::collections::HashMap;

use gridwhistle_domain::{CaseId, DepartmentId, LetterId, ReportId, Timestamp, UserId};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use tracing::instrument;

use super::UpdateError;
use super::batch::decide_and_write;
use super::codec::corrupt;
use super::entity::{report, supervision_letter, supervision_letter_case};
use super::reports::lock_reports;
use super::requests::record;
use super::sql::after_position;
use super::{Backend, LetterRepo, StorageError};
use crate::model::{
    AnswerOutcome, Effects, IssueOutcome, LetterFilter, LetterRecord, NewLetter, Once, ReportRecord,
};

/// Reads a letter with its cases, locked on PostgreSQL when `lock` is set.
async fn load_letter(
    db: &impl ConnectionTrait,
    backend: Backend,
    id: &LetterId,
    lock: bool,
) -> Result<Option<LetterRecord>, StorageError> {
    let mut query = supervision_letter::Entity::find_by_id(id.to_string());
    if lock && backend == Backend::Postgres {
        query = query.lock_exclusive();
    }
    let Some(m) = query.one(db).await? else {
        return Ok(None);
    };
    Ok(with_cases(db, vec![m]).await?.pop())
}

/// The letters of `models` with their cases, in the order given; three statements whatever their number.
async fn with_cases(
    db: &impl ConnectionTrait,
    models: Vec<supervision_letter::Model>,
) -> Result<Vec<LetterRecord>, StorageError> {
    if models.is_empty() {
        return Ok(Vec::new());
    }
    let links = supervision_letter_case::Entity::find()
        .filter(
            supervision_letter_case::Column::LetterId.is_in(models.iter().map(|m| m.id.clone())),
        )
        .order_by_asc(supervision_letter_case::Column::LetterId)
        .order_by_asc(supervision_letter_case::Column::Position)
        .all(db)
        .await?;
    let case_of: HashMap<String, String> = report::Entity::find()
        .filter(report::Column::Id.is_in(links.iter().map(|l| l.report_id.clone())))
        .all(db)
        .await?
        .into_iter()
        .filter_map(|r| Some((r.id, r.case_id?)))
        .collect();
    let mut cases: HashMap<String, Vec<CaseId>> = HashMap::new();
    for link in links {
        let case = case_of
            .get(&link.report_id)
            .ok_or_else(|| corrupt("supervision letter", "a case is missing"))?;
        cases
            .entry(link.letter_id)
            .or_default()
            .push(CaseId::parse(case).map_err(|e| corrupt("supervision letter", e))?);
    }
    models
        .into_iter()
        .map(|m| {
            let cases = cases.remove(&m.id).unwrap_or_default();
            letter_from_model(m, cases)
        })
        .collect()
}

fn letter_from_model(
    m: supervision_letter::Model,
    cases: Vec<CaseId>,
) -> Result<LetterRecord, StorageError> {
    Ok(LetterRecord {
        id: LetterId::parse(&m.id).map_err(|e| corrupt("supervision letter", e))?,
        department: DepartmentId::parse(&m.department_id)
            .map_err(|e| corrupt("supervision letter", e))?,
        issuer: UserId::parse(&m.issuer_id).map_err(|e| corrupt("supervision letter", e))?,
        text: m.text,
        cases,
        reply_due: Timestamp::from_unix_millis(m.reply_due_at_ms),
        created_at: Timestamp::from_unix_millis(m.created_at_ms),
        answered_at: m.answered_at_ms.map(Timestamp::from_unix_millis),
        answered_by: m
            .answered_by
            .map(|u| UserId::parse(&u).map_err(|e| corrupt("supervision letter", e)))
            .transpose()?,
        reply: m.reply,
        request_hash: m.request_hash,
    })
}

/// The reports of `cases`, in the order named, locked on PostgreSQL; `None` when one is missing.
async fn reports_of_cases(
    txn: &DatabaseTransaction,
    backend: Backend,
    cases: &[CaseId],
) -> Result<Option<Vec<ReportRecord>>, StorageError> {
    let names: Vec<String> = cases.iter().map(ToString::to_string).collect();
    let ids: Vec<ReportId> = report::Entity::find()
        .select_only()
        .column(report::Column::Id)
        .filter(report::Column::CaseId.is_in(names))
        .into_tuple::<String>()
        .all(txn)
        .await?
        .iter()
        .map(|id| ReportId::parse(id).map_err(|e| corrupt("supervision letter", e)))
        .collect::<Result<_, _>>()?;
    let records = lock_reports(txn, backend, &ids).await?;
    let by_case: HashMap<CaseId, &ReportRecord> = records
        .iter()
        .filter_map(|r| Some((r.case.as_ref()?.id, r)))
        .collect();
    let ordered: Option<Vec<ReportRecord>> = cases
        .iter()
        .map(|c| by_case.get(c).map(|r| (*r).clone()))
        .collect();
    Ok(ordered)
}

/// Inserts the letter unless its id is stored; answers whether it did.
async fn insert_letter(
    txn: &DatabaseTransaction,
    new: &NewLetter,
    now: Timestamp,
) -> Result<bool, StorageError> {
    let inserted = supervision_letter::Entity::insert(supervision_letter::ActiveModel {
        id: Set(new.id.to_string()),
        department_id: Set(new.department.as_str().to_owned()),
        issuer_id: Set(new.issuer.to_string()),
        text: Set(new.text.clone()),
        reply_due_at_ms: Set(new.reply_due.as_unix_millis()),
        created_at_ms: Set(now.as_unix_millis()),
        request_hash: Set(new.request_hash.clone()),
        answered_at_ms: Set(None),
        answered_by: Set(None),
        reply: Set(None),
    })
    .on_conflict(
        OnConflict::column(supervision_letter::Column::Id)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(txn)
    .await
    .map_err(|e| StorageError::classify(e, "supervision letter", "department"))?;
    Ok(inserted > 0)
}

/// The answer to a letter id stored before: the stored letter when the request is the same, a conflict otherwise.
async fn replay<E>(
    txn: &DatabaseTransaction,
    backend: Backend,
    new: &NewLetter,
) -> Result<IssueOutcome, UpdateError<E>> {
    let stored = supervision_letter::Entity::find_by_id(new.id.to_string())
        .one(txn)
        .await
        .map_err(StorageError::from)?
        .ok_or(UpdateError::NotFound)?;
    if stored.request_hash != new.request_hash {
        return Ok(IssueOutcome::Conflict);
    }
    let letter = load_letter(txn, backend, &new.id, false)
        .await?
        .ok_or(UpdateError::NotFound)?;
    Ok(IssueOutcome::Replayed(letter))
}

impl LetterRepo<'_> {
    /// Letters by reply due time, then id, after the position `after`, at most `limit`, with their cases.
    #[instrument(skip_all, fields(limit))]
    pub async fn list(
        self,
        filter: &LetterFilter,
        after: Option<(Timestamp, LetterId)>,
        limit: u64,
    ) -> Result<Vec<LetterRecord>, StorageError> {
        use supervision_letter::Column as C;
        let mut query = supervision_letter::Entity::find()
            .order_by_asc(C::ReplyDueAtMs)
            .order_by_asc(C::Id);
        if let Some(department) = &filter.department {
            query = query.filter(C::DepartmentId.eq(department.as_str()));
        }
        if filter.unanswered_only {
            query = query.filter(C::AnsweredAtMs.is_null());
        }
        if let Some((due, id)) = after {
            query = query.filter(after_position(
                Expr::col(C::ReplyDueAtMs),
                due.as_unix_millis(),
                Expr::col(C::Id),
                id.to_string(),
            ));
        }
        let models = query.limit(limit).all(&self.store.db).await?;
        with_cases(&self.store.db, models).await
    }

    /// The letter `id` with its cases.
    pub async fn get(self, id: &LetterId) -> Result<LetterRecord, StorageError> {
        load_letter(&self.store.db, self.store.backend, id, false)
            .await?
            .ok_or(StorageError::NotFound {
                entity: "supervision letter",
            })
    }

    /// Issues `new`: stores the letter and its cases and appends to the cases what `decide` makes of them (timeline events, the reply deadline, outbox rows), in one transaction.
    ///
    /// A letter id stored before answers from the stored letter: a replay when the request hash matches, a conflict otherwise.
    #[instrument(skip_all, fields(letter = %new.id))]
    pub async fn issue<E, F>(
        self,
        new: NewLetter,
        now: Timestamp,
        decide: F,
    ) -> Result<IssueOutcome, UpdateError<E>>
    where
        F: FnOnce(&[ReportRecord]) -> Result<Vec<(ReportId, Effects)>, E> + Send + 'static,
        E: Send + 'static,
    {
        let backend = self.store.backend;
        let rollups = self.store.rollups();
        self.store
            .write(move |txn| {
                Box::pin(async move {
                    if !insert_letter(txn, &new, now).await? {
                        return replay(txn, backend, &new).await;
                    }
                    let records = reports_of_cases(txn, backend, &new.cases)
                        .await?
                        .ok_or(UpdateError::NotFound)?;
                    supervision_letter_case::Entity::insert_many(records.iter().zip(0..).map(
                        |(r, position)| supervision_letter_case::ActiveModel {
                            letter_id: Set(new.id.to_string()),
                            report_id: Set(r.id.to_string()),
                            position: Set(position),
                        },
                    ))
                    .exec_without_returning(txn)
                    .await
                    .map_err(StorageError::from)?;
                    decide_and_write(txn, rollups, &records, decide, now).await?;
                    Ok(IssueOutcome::Issued(LetterRecord {
                        id: new.id,
                        department: new.department,
                        issuer: new.issuer,
                        text: new.text,
                        cases: new.cases,
                        reply_due: new.reply_due,
                        created_at: now,
                        answered_at: None,
                        answered_by: None,
                        reply: None,
                        request_hash: new.request_hash,
                    }))
                })
            })
            .await
    }

    /// Records the department's reply to letter `id` by `by`, and appends to its cases what `decide` makes of them (events, the satisfied reply deadline), in one transaction; a letter answered before is left as it is.
    /// With `once`, the client's request id and the answer are stored in the same transaction.
    #[instrument(skip_all, fields(letter = %id))]
    pub async fn answer<E, F>(
        self,
        id: LetterId,
        reply: String,
        by: UserId,
        now: Timestamp,
        once: Option<Once<LetterRecord>>,
        decide: F,
    ) -> Result<AnswerOutcome, UpdateError<E>>
    where
        F: FnOnce(&LetterRecord, &[ReportRecord]) -> Result<Vec<(ReportId, Effects)>, E>
            + Send
            + 'static,
        E: Send + 'static,
    {
        let backend = self.store.backend;
        let rollups = self.store.rollups();
        self.store
            .write(move |txn| {
                Box::pin(async move {
                    let letter = load_letter(txn, backend, &id, true)
                        .await?
                        .ok_or(UpdateError::NotFound)?;
                    if letter.answered_at.is_some() {
                        return Ok(AnswerOutcome::AlreadyAnswered(letter));
                    }
                    let answered = supervision_letter::Entity::update_many()
                        .col_expr(
                            supervision_letter::Column::AnsweredAtMs,
                            Expr::value(now.as_unix_millis()),
                        )
                        .col_expr(
                            supervision_letter::Column::AnsweredBy,
                            Expr::value(by.to_string()),
                        )
                        .col_expr(
                            supervision_letter::Column::Reply,
                            Expr::value(reply.clone()),
                        )
                        .filter(supervision_letter::Column::Id.eq(id.to_string()))
                        .filter(supervision_letter::Column::AnsweredAtMs.is_null())
                        .exec(txn)
                        .await
                        .map_err(StorageError::from)?;
                    if answered.rows_affected != 1 {
                        return Err(UpdateError::Stale);
                    }
                    let records = reports_of_cases(txn, backend, &letter.cases)
                        .await?
                        .ok_or(UpdateError::NotFound)?;
                    decide_and_write(txn, rollups, &records, |r| decide(&letter, r), now).await?;
                    let answered = LetterRecord {
                        answered_at: Some(now),
                        answered_by: Some(by),
                        reply: Some(reply),
                        ..letter
                    };
                    if let (Some(once), Some(first)) = (&once, records.first()) {
                        record(txn, once, &first.id, &answered, now).await?;
                    }
                    Ok(AnswerOutcome::Answered(answered))
                })
            })
            .await
    }
}
