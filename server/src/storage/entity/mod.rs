//! sea-orm entities: private to the storage module, so no other module sees table shapes.
#![allow(unreachable_pub)]

pub(super) mod assignment;
pub(super) mod attachment;
pub(super) mod blob_chunk;
pub(super) mod boundary_generation;
pub(super) mod calendar_year;
pub(super) mod case_event;
pub(super) mod catalogue_category;
pub(super) mod catalogue_version;
pub(super) mod deadline;
pub(super) mod department;
pub(super) mod device;
pub(super) mod extension;
pub(super) mod grid;
pub(super) mod import_lock;
pub(super) mod interview;
pub(super) mod ledger_entry;
pub(super) mod ledger_event;
pub(super) mod ledger_step;
pub(super) mod login_throttle;
pub(super) mod meeting;
pub(super) mod meeting_item;
pub(super) mod notification;
pub(super) mod notification_read;
pub(super) mod party_reveal;
pub(super) mod push_delivery;
pub(super) mod refresh_token;
pub(super) mod report;
pub(super) mod signing_key;
pub(super) mod step_request;
pub(super) mod supervision_letter;
pub(super) mod supervision_letter_case;
pub(super) mod time_limit_version;
pub(super) mod upload;
pub(super) mod upload_chunk;
pub(super) mod user;
