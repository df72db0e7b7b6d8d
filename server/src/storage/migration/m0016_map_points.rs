//! `reports.wgs84_latitude` and `reports.wgs84_longitude`: where a report lies in WGS-84, as routing sees it, for the case queue's bounding box and maps; the device's own coordinates (often GCJ-02 or BD-09) stay as they were sent.
//!
//! Reports filed before are converted here, a thousand at a time.

use gridwhistle_dispatcher::routing::coords::to_wgs84;
use gridwhistle_domain::CoordinateSystem;
use sea_orm::ConnectionTrait;
use sea_orm_migration::prelude::*;

#[derive(Debug)]
pub(super) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0016_map_points"
    }
}

#[derive(DeriveIden)]
enum Reports {
    Table,
    Id,
    Latitude,
    Longitude,
    CoordinateSystem,
    Wgs84Latitude,
    Wgs84Longitude,
}

const INDEX: &str = "ix_reports_wgs84";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [Reports::Wgs84Latitude, Reports::Wgs84Longitude] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Reports::Table)
                        .add_column(ColumnDef::new(column).double().null())
                        .to_owned(),
                )
                .await?;
        }
        backfill(manager).await?;
        manager
            .create_index(
                Index::create()
                    .name(INDEX)
                    .table(Reports::Table)
                    .col(Reports::Wgs84Latitude)
                    .col(Reports::Wgs84Longitude)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name(INDEX).table(Reports::Table).to_owned())
            .await?;
        for column in [Reports::Wgs84Latitude, Reports::Wgs84Longitude] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Reports::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

/// Converts every stored report's position, in pages by id.
async fn backfill(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    const PAGE: u64 = 1000;
    let db = manager.get_connection();
    let mut after = String::new();
    loop {
        let page = Query::select()
            .columns([
                Reports::Id,
                Reports::Latitude,
                Reports::Longitude,
                Reports::CoordinateSystem,
            ])
            .from(Reports::Table)
            .and_where(Expr::col(Reports::Id).gt(after.clone()))
            .order_by(Reports::Id, Order::Asc)
            .limit(PAGE)
            .to_owned();
        let rows = db.query_all(&page).await?;
        let Some(last) = rows.last() else {
            return Ok(());
        };
        after = last.try_get("", "id")?;
        for row in &rows {
            let id: String = row.try_get("", "id")?;
            let system: String = row.try_get("", "coordinate_system")?;
            let system: CoordinateSystem = system
                .parse()
                .map_err(|e| DbErr::Custom(format!("report {id}: {e}")))?;
            let (lat, lng) = to_wgs84(
                row.try_get("", "latitude")?,
                row.try_get("", "longitude")?,
                system,
            );
            let update = Query::update()
                .table(Reports::Table)
                .value(Reports::Wgs84Latitude, lat)
                .value(Reports::Wgs84Longitude, lng)
                .and_where(Expr::col(Reports::Id).eq(id))
                .to_owned();
            db.execute(&update).await?;
        }
    }
}

#[cfg(test)]
mod tests {
    use gridwhistle_dispatcher::routing::coords::wgs84_to_gcj02;
    use sea_orm::{ConnectOptions, Database, DbBackend, Statement};
    use sea_orm_migration::MigratorTrait as _;

    use super::*;
    use crate::storage::migration::Migrator;

    #[tokio::test]
    async fn reports_filed_before_get_where_they_lie_in_wgs84() {
        let mut options = ConnectOptions::new("sqlite::memory:");
        // One connection: the in-memory database and the pragma are per connection.
        options.max_connections(1).min_connections(1);
        let db = Database::connect(options).await.unwrap();
        Migrator::up(&db, Some(15)).await.unwrap();
        db.execute_unprepared("PRAGMA foreign_keys = OFF")
            .await
            .unwrap();
        let (lat, lng) = (39.908_7, 116.397_5);
        let (gcj_lat, gcj_lng) = wgs84_to_gcj02(lat, lng);
        for (id, la, ln, system) in [("r1", gcj_lat, gcj_lng, "gcj02"), ("r2", lat, lng, "wgs84")] {
            db.execute_unprepared(&format!(
                "INSERT INTO reports (id, author_id, category_id, description, latitude, longitude, \
                 coordinate_system, accuracy_m, observed_at_ms, created_at_ms, updated_at_ms, parties, \
                 attachments, request_hash, state, version, rework_count) VALUES ('{id}', 'u', 'c', '', \
                 {la}, {ln}, '{system}', 5, 0, 0, 0, '[]', '[]', '', 'open', 1, 0)"
            ))
            .await
            .unwrap();
        }
        Migrator::up(&db, None).await.unwrap();
        let rows = db
            .query_all_raw(Statement::from_string(
                DbBackend::Sqlite,
                "SELECT wgs84_latitude, wgs84_longitude FROM reports ORDER BY id",
            ))
            .await
            .unwrap();
        assert_eq!(rows.len(), 2);
        for row in rows {
            let got: (f64, f64) = (
                row.try_get("", "wgs84_latitude").unwrap(),
                row.try_get("", "wgs84_longitude").unwrap(),
            );
            assert!(
                (got.0 - lat).abs() < 1e-5 && (got.1 - lng).abs() < 1e-5,
                "{got:?}"
            );
        }
    }
}
