//! The gRPC layer: the only code that knows prost types; it converts at the edge and maps errors in one place.

mod admin;
mod auth;
mod convert;
pub mod error;
mod pending;
mod report;
mod routing;

pub use admin::AdminApi;
pub use auth::AuthApi;
pub use pending::{PendingCases, PendingDevices, PendingSupervision};
pub use report::ReportApi;
