//! Multi-row statements: inserts chunked under SQLite's limit on bound values, and `UPDATE … FROM (VALUES …)` for batches of updates.

use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, Statement, Value,
};

use super::sql::Sql;
use super::{Backend, StorageError};

/// Most rows or ids one statement carries: the bound values stay under SQLite's limit of 32,766.
pub(super) const ROWS_PER_STATEMENT: usize = 500;

/// Inserts `models` with as few statements as [`ROWS_PER_STATEMENT`] allows.
pub(super) async fn insert_chunked<A>(
    db: &impl ConnectionTrait,
    models: Vec<A>,
) -> Result<(), StorageError>
where
    A: ActiveModelTrait + Send,
{
    let mut models = models.into_iter().peekable();
    while models.peek().is_some() {
        let chunk: Vec<A> = models.by_ref().take(ROWS_PER_STATEMENT).collect();
        A::Entity::insert_many(chunk)
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// A multi-row statement `{head} (VALUES (…), …) AS v {tail}` with `rows` bound in order, each row `width` values wide.
fn values_statement(
    backend: Backend,
    head: &str,
    tail: &str,
    width: usize,
    rows: Vec<Vec<Value>>,
) -> Statement {
    let mut sql = Sql::with_capacity(
        backend,
        head.len() + tail.len() + rows.len() * width * 5,
        rows.len() * width,
    );
    sql.push(head).push(" (VALUES ");
    for (r, row) in rows.into_iter().enumerate() {
        debug_assert_eq!(row.len(), width);
        if r > 0 {
            sql.push(", ");
        }
        sql.list(row);
    }
    sql.push(") AS v ").push(tail);
    sql.build()
}

/// Runs `rows` through `values_statement` in chunks; answers how many rows were changed in all.
pub(super) async fn execute_values(
    txn: &DatabaseTransaction,
    backend: Backend,
    head: &str,
    tail: &str,
    width: usize,
    rows: Vec<Vec<Value>>,
) -> Result<u64, StorageError> {
    let mut changed = 0;
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<Vec<Value>> = rows.by_ref().take(ROWS_PER_STATEMENT).collect();
        let statement = values_statement(backend, head, tail, width, chunk);
        changed += txn.execute_raw(statement).await?.rows_affected();
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_values_statement_numbers_postgres_placeholders_in_row_order() {
        let statement = values_statement(
            Backend::Postgres,
            "UPDATE t SET a = v.column2 FROM",
            "WHERE t.id = v.column1",
            2,
            vec![vec![1.into(), 2.into()], vec![3.into(), 4.into()]],
        );
        assert_eq!(
            statement.sql,
            "UPDATE t SET a = v.column2 FROM (VALUES ($1, $2), ($3, $4)) AS v WHERE t.id = v.column1"
        );
        assert_eq!(statement.values.map(|v| v.0.len()), Some(4));
    }

    #[test]
    fn a_values_statement_uses_question_marks_on_sqlite() {
        let statement = values_statement(
            Backend::Sqlite,
            "UPDATE t SET a = v.column2 FROM",
            "WHERE t.id = v.column1",
            2,
            vec![vec![1.into(), 2.into()]],
        );
        assert_eq!(
            statement.sql,
            "UPDATE t SET a = v.column2 FROM (VALUES (?, ?)) AS v WHERE t.id = v.column1"
        );
    }
}
