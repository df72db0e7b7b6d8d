//! Raw statements built piece by piece, with placeholders in the backend's style (`?` on SQLite, `$n` on PostgreSQL), for the queries sea-orm's builder cannot express: multi-row `VALUES`, `UNNEST`, row-value `IN`.

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

    /// A statement of fixed text with nothing bound.
    pub(super) fn text(backend: Backend, text: &str) -> Statement {
        let mut sql = Self::new(backend);
        sql.push(text);
        sql.build()
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
