//! Gridwhistle's domain logic with no transport or database; it reaches the world only through small traits such as [`Clock`].

pub mod calendar;
pub mod clock;
pub mod deadlines;
pub mod engine;
pub mod notify;
pub mod policy;
pub mod push;
pub mod routing;
pub mod workflow;

pub use clock::{Clock, ManualClock, ShiftedClock, SystemClock};
