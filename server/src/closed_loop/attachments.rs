//! Reading back attachments through the report or case they are attached to: who may, and who attached each file when.

use gridwhistle_domain::{AccessError, Action, Actor, AttachmentId, Timestamp, UserId};
use tracing::instrument;

use crate::model::ReportKey;
use crate::storage::{AttachmentRecord, StorageError};

use super::{LoopError, LoopService, hidden_if_missing};

/// An attachment as attached to one report or case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachedFile {
    pub attachment: AttachmentRecord,
    /// Who first attached it to this report or case.
    pub attacher: UserId,
    /// When it was first attached to this report or case.
    pub attached_at: Timestamp,
}

impl LoopService {
    /// The attachment `digest` as attached to the report or case `key`, for a caller entitled to it: the report's author, a department the case summoned (still or before), a supervisor.
    ///
    /// A caller not entitled, a missing report or case, and a file not on its timeline are all answered as a missing attachment.
    #[instrument(skip_all, fields(attachment = %digest))]
    pub async fn attached_file(
        &self,
        actor: &Actor,
        key: ReportKey,
        digest: &AttachmentId,
    ) -> Result<AttachedFile, LoopError> {
        // A role that may never read attachments learns nothing about the object.
        let none = UserId::generate();
        if let Err(err @ AccessError::Forbidden { .. }) = actor.authorize(Action::ReadAttachments {
            author: &none,
            departments: &[],
        }) {
            return Err(LoopError::Access(err, "attachment"));
        }
        let report = self
            .store
            .reports()
            .get(key)
            .await
            .map_err(hidden_if_missing("attachment"))?;
        actor
            .authorize(Action::ReadAttachments {
                author: &report.author,
                departments: &report.departments(),
            })
            .map_err(|e| LoopError::Access(e, "attachment"))?;
        let timeline = self.store.timeline().of_report(&report.id).await?;
        let first = timeline
            .iter()
            .find(|e| e.attachments.contains(digest))
            .ok_or(LoopError::Access(AccessError::Hidden, "attachment"))?;
        let attachment =
            self.store
                .uploads()
                .get_attachment(digest)
                .await?
                .ok_or(StorageError::NotFound {
                    entity: "attachment",
                })?;
        Ok(AttachedFile {
            attachment,
            attacher: first.actor.unwrap_or(report.author),
            attached_at: first.at,
        })
    }
}
