//! Raw statements built piece by piece, with placeholders in the backend's style (`?` on SQLite, `$n` on PostgreSQL), kept only where the query builder cannot say the statement or a benchmark shows the raw form earns its place; everything else goes through sea-orm.
//!
//! What stays raw, and why:
//! - `multirow`: `UPDATE … FROM (VALUES …)`, a batch of updates in one statement (the deadline engine's bursts); the builder has no `UPDATE … FROM`.
//! - `lease`: the claim `UPDATE … WHERE key IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING`, one statement for every claimer.
//! - `outbox::claims`: a notification's recipients as one aggregated row per notification (`string_agg`/`group_concat` over three audience joins), which the push benchmark measured as the sender's bottleneck when read row by row; row-value `IN (VALUES …)` for deliveries.
//! - `outbox::settle`: outcomes as one `UNNEST` of five arrays on PostgreSQL, a statement whose text (and prepared plan) is the same for every batch.
//! - `devices` (the inbox) and `outbox::dead_letters`: joins across notifications, events and reports with a scope condition shared by four statements and string concatenation of keys; written once as SQL fragments (`InboxScope::condition`).
//! - `deadlines`: the engine's light reads by id with `= ANY($array)` and `FOR UPDATE` in id order.
//! - `blobs`: sealing an upload as one `INSERT … SELECT`, so a file of tens of megabytes moves under its digest inside the database, never through the server's memory.
//! - `logins`: a failure counted in one upsert that resets an old window and answers the new count (`ON CONFLICT … DO UPDATE … RETURNING`), so concurrent failures never lose one.
//! - `rollups`: the figures' daily rollups, one `INSERT … SELECT … UNION ALL … GROUP BY … ON CONFLICT DO UPDATE` per change that adds a share's contribution (written once as SQL, over `stats`' own conditions) with a sign; the builder has no upsert from a grouped select.
//! - `stats`: the figures, a dozen conditional sums per group over one or two tables, whose grouping key and narrowing are shared by five statements (`Counting`); written as SQL text, read in the order the counts are declared.

use sea_orm::{DbBackend, Statement, Value};

use super::Backend;

/// A statement under construction.
pub(super) struct Sql {
    backend: Backend,
    text: String,
    values: Vec<Value>,
}

impl Sql {
    pub(super) fn new(backend: Backend) -> Self {
        Self::with_capacity(backend, 256, 0)
    }

    /// Room for `text` bytes of SQL and `values` parameters, for statements whose size is known.
    pub(super) fn with_capacity(backend: Backend, text: usize, values: usize) -> Self {
        Self {
            backend,
            text: String::with_capacity(text),
            values: Vec::with_capacity(values),
        }
    }

    pub(super) fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    pub(super) fn bind(&mut self, value: impl Into<Value>) -> &mut Self {
        self.values.push(value.into());
        match self.backend {
            Backend::Sqlite => self.text.push('?'),
            Backend::Postgres => {
                self.text.push('$');
                self.text.push_str(&self.values.len().to_string());
            }
        }
        self
    }

    /// ` IN (v1, v2, …)` on SQLite; ` = ANY($n)` with one array parameter on PostgreSQL, so the statement's text, and its prepared plan, stay the same whatever the number of values.
    pub(super) fn any(&mut self, values: impl IntoIterator<Item = String>) -> &mut Self {
        match self.backend {
            Backend::Sqlite => self.push(" IN ").list(values),
            Backend::Postgres => self
                .push(" = ANY(")
                .bind(text_array(values.into_iter()))
                .push(")"),
        }
    }

    /// [`Sql::any`] over integer keys: a `bigint[]` parameter on PostgreSQL.
    pub(super) fn any_i64(&mut self, values: impl IntoIterator<Item = i64>) -> &mut Self {
        match self.backend {
            Backend::Sqlite => self.push(" IN ").list(values),
            Backend::Postgres => self
                .push(" = ANY(")
                .bind(Value::Array(
                    sea_orm::sea_query::ArrayType::BigInt,
                    Some(Box::new(values.into_iter().map(Value::from).collect())),
                ))
                .push(")"),
        }
    }

    /// `(v1, v2, …)`, for `IN` or one row of `VALUES`.
    pub(super) fn list<V: Into<Value>>(
        &mut self,
        values: impl IntoIterator<Item = V>,
    ) -> &mut Self {
        self.text.push('(');
        for (i, value) in values.into_iter().enumerate() {
            if i > 0 {
                self.text.push_str(", ");
            }
            self.bind(value);
        }
        self.text.push(')');
        self
    }

    /// `(SELECT * FROM (VALUES (a, b), …) AS v)`, for a row-value `IN` on a two-column key.
    pub(super) fn keys<'k>(
        &mut self,
        keys: impl IntoIterator<Item = &'k (String, String)>,
    ) -> &mut Self {
        self.text.push_str("(SELECT * FROM (VALUES ");
        for (i, (a, b)) in keys.into_iter().enumerate() {
            if i > 0 {
                self.text.push_str(", ");
            }
            self.list([a.clone(), b.clone()]);
        }
        self.text.push_str(") AS v)");
        self
    }

    pub(super) fn build(self) -> Statement {
        let db = match self.backend {
            Backend::Sqlite => DbBackend::Sqlite,
            Backend::Postgres => DbBackend::Postgres,
        };
        Statement::from_sql_and_values(db, self.text, self.values)
    }
}

/// A PostgreSQL `text[]` parameter.
pub(super) fn text_array(values: impl Iterator<Item = String>) -> Value {
    Value::Array(
        sea_orm::sea_query::ArrayType::String,
        Some(Box::new(values.map(Value::from).collect())),
    )
}

/// `column` is one of `values`, in the query builder: ` IN (…)` on SQLite, ` = ANY($array)` on PostgreSQL, whose statement text (and prepared plan) stays the same whatever the number of values.
pub(super) fn any_of<C: sea_orm::ColumnTrait>(
    backend: Backend,
    column: C,
    values: impl IntoIterator<Item = String>,
) -> sea_orm::sea_query::SimpleExpr {
    use sea_orm::sea_query::{Expr, ExprTrait, extension::postgres::PgFunc};
    match backend {
        Backend::Sqlite => column.is_in(values),
        Backend::Postgres => Expr::col(column.as_column_ref())
            .eq(PgFunc::any(Expr::val(text_array(values.into_iter())))),
    }
}

/// Rows after the position (`key_at`, `tie_at`) in the order `key, tie`: the condition of every keyset page.
pub(super) fn after_position(
    key: impl Into<sea_orm::sea_query::Expr>,
    key_at: impl Into<Value>,
    tie: impl Into<sea_orm::sea_query::Expr>,
    tie_at: impl Into<Value>,
) -> sea_orm::sea_query::Expr {
    use sea_orm::sea_query::ExprTrait as _;
    let (key, key_at) = (key.into(), key_at.into());
    key.clone()
        .gt(key_at.clone())
        .or(key.eq(key_at).and(tie.into().gt(tie_at.into())))
}
