//! Domain types of Gridwhistle: identifiers, users and roles, time, and the access policy; no IO, no transport, no database.

pub mod access;
pub mod ids;
pub mod location;
pub mod risk;
pub mod time;
pub mod user;

pub use access::{AccessError, Action, Actor};
pub use ids::{CategoryId, DepartmentId, GridId, IdError, UserId};
pub use location::{CoordinateSystem, GeoPoint, LocationError};
pub use risk::RiskGrade;
pub use time::Timestamp;
pub use user::{
    Binding, BindingError, DepartmentType, DisplayName, Password, Role, UserFieldError, Username,
};
