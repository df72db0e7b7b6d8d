//! The gRPC layer: the only code that knows prost types; it converts at the edge and maps errors in one place.

mod admin;
mod attachment;
mod audit;
mod auth;
mod case;
mod case_filter;
mod closed_loop;
mod convert;
mod devices;
mod directory;
mod enums;
pub mod error;
mod feed;
mod interviews;
mod ledger;
mod ledger_view;
mod meetings;
mod once;
mod report;
mod routing;
mod stats;
mod stream;
mod supervision;
mod time_limits;

pub use admin::AdminApi;
pub use attachment::AttachmentApi;
pub use audit::AuditApi;
pub use auth::AuthApi;
pub use case::CaseApi;
pub use devices::DeviceApi;
pub use directory::DirectoryApi;
pub use ledger::LedgerApi;
pub use report::ReportApi;
pub use supervision::SupervisionApi;
