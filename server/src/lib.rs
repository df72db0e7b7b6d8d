//! The Gridwhistle server: storage, authentication, the gRPC API and the process around them.

pub mod access;
pub mod api;
pub mod app;
pub mod attachments;
pub mod auth;
pub mod backup;
pub mod cli;
pub mod closed_loop;
pub mod config;
pub mod console;
pub mod deadline_engine;
pub mod demo;
pub mod directory;
pub mod feed;
pub mod health;
pub mod ledger;
pub mod metrics;
pub mod model;
pub mod notifications;
pub mod periodic;
pub mod push;
pub mod reveals;
pub mod routing;
pub mod shed;
pub mod stats;
pub mod storage;
pub mod telemetry;
pub mod time_limits;
pub mod uploads;

pub use app::{Listeners, ServeError, run, run_on};
pub use config::ServerConfig;
