//! Schema migrations, one file each, applied in order; a migration is never edited after it lands.

use sea_orm_migration::{MigrationTrait, MigratorTrait};

mod m0001_foundation;
mod m0002_routing;
mod m0003_whistle_loop;
mod m0004_time_limits;
mod m0005_deadlines;
mod m0006_outbox;
mod m0007_supervision_letters;
mod m0008_deadline_order;
mod m0009_push;
mod m0010_firing_path;
mod m0011_hardening;
mod m0012_contact_time;
mod m0013_queue_due;
mod m0014_case_queue;
mod m0015_step_requests;
mod m0016_map_points;
mod m0017_assignment_facts;
mod m0018_ledger;
mod m0019_ledger_deadlines;
mod m0020_login_throttles;
mod m0021_blob_chunks;
pub(super) mod m0022_share_days;
mod m0023_party_reveals;

/// Every migration of the schema, oldest first.
#[derive(Debug)]
pub(super) struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_foundation::Migration),
            Box::new(m0002_routing::Migration),
            Box::new(m0003_whistle_loop::Migration),
            Box::new(m0004_time_limits::Migration),
            Box::new(m0005_deadlines::Migration),
            Box::new(m0006_outbox::Migration),
            Box::new(m0007_supervision_letters::Migration),
            Box::new(m0008_deadline_order::Migration),
            Box::new(m0009_push::Migration),
            Box::new(m0010_firing_path::Migration),
            Box::new(m0011_hardening::Migration),
            Box::new(m0012_contact_time::Migration),
            Box::new(m0013_queue_due::Migration),
            Box::new(m0014_case_queue::Migration),
            Box::new(m0015_step_requests::Migration),
            Box::new(m0016_map_points::Migration),
            Box::new(m0017_assignment_facts::Migration),
            Box::new(m0018_ledger::Migration),
            Box::new(m0019_ledger_deadlines::Migration),
            Box::new(m0020_login_throttles::Migration),
            Box::new(m0021_blob_chunks::Migration),
            Box::new(m0022_share_days::Migration),
            Box::new(m0023_party_reveals::Migration),
        ]
    }
}
