//! `DeviceService`: the caller's own devices, and their in-app inbox (list, mark read, watch). Every call acts on the caller alone, so it needs no object check beyond "mine".

use gridwhistle_dispatcher::notify::NoticeKind;
use gridwhistle_dispatcher::push::Channel;
use gridwhistle_proto::v1::{self, device_service_server::DeviceService};
use tokio::sync::watch;
use tonic::{Request, Response, Status};
use tracing::instrument;

use super::convert::{PageRequest, Violations, caller, fits, resource_id, timestamp};
use super::error::ApiError;
use super::feed::{Page, follow_log};
use super::stream::BoxStream;
use crate::feed::EventFeed;
use crate::model::EventPosition;
use crate::notifications::Notifications;
use crate::storage::{DeviceRecord, InboxEntry, InboxPosition, InboxScope, NewDevice};

/// Longest push token accepted; FCM's are about 160 characters, APNs' 64.
const MAX_TOKEN_LEN: usize = 4096;
/// Inbox entries one stream read returns at most.
const STREAM_BATCH: u64 = 200;

#[derive(Debug)]
pub struct DeviceApi {
    service: Notifications,
    stop: watch::Receiver<bool>,
}

impl DeviceApi {
    pub fn new(service: Notifications, stop: watch::Receiver<bool>) -> Self {
        Self { service, stop }
    }
}

pub(crate) fn channel_to_proto(channel: Channel) -> v1::PushChannel {
    match channel {
        Channel::Fcm => v1::PushChannel::Fcm,
        Channel::Huawei => v1::PushChannel::Huawei,
        Channel::Xiaomi => v1::PushChannel::Xiaomi,
        Channel::Oppo => v1::PushChannel::Oppo,
        Channel::Vivo => v1::PushChannel::Vivo,
    }
}

fn channel_from_proto(value: i32) -> Result<Channel, &'static str> {
    match v1::PushChannel::try_from(value) {
        Ok(v1::PushChannel::Fcm) => Ok(Channel::Fcm),
        Ok(v1::PushChannel::Huawei) => Ok(Channel::Huawei),
        Ok(v1::PushChannel::Xiaomi) => Ok(Channel::Xiaomi),
        Ok(v1::PushChannel::Oppo) => Ok(Channel::Oppo),
        Ok(v1::PushChannel::Vivo) => Ok(Channel::Vivo),
        Ok(v1::PushChannel::Unspecified) => Err("is required"),
        Err(_) => Err("is not a known channel"),
    }
}

fn platform_from_proto(value: i32) -> Result<&'static str, &'static str> {
    match v1::Platform::try_from(value) {
        Ok(v1::Platform::Android) => Ok("android"),
        Ok(v1::Platform::Ios) => Ok("ios"),
        Ok(v1::Platform::Web) => Ok("web"),
        Ok(v1::Platform::Unspecified) => Err("is required"),
        Err(_) => Err("is not a known platform"),
    }
}

fn platform_to_proto(text: &str) -> v1::Platform {
    match text {
        "android" => v1::Platform::Android,
        "ios" => v1::Platform::Ios,
        "web" => v1::Platform::Web,
        _ => v1::Platform::Unspecified,
    }
}

pub(crate) fn kind_to_proto(kind: NoticeKind) -> v1::NotificationKind {
    match kind {
        NoticeKind::CaseAssigned => v1::NotificationKind::CaseAssigned,
        NoticeKind::Reminder => v1::NotificationKind::DeadlineReminder,
        NoticeKind::Escalation => v1::NotificationKind::Escalation,
        NoticeKind::SupervisionLetter => v1::NotificationKind::SupervisionLetter,
        NoticeKind::ResultReady => v1::NotificationKind::ResultReady,
        NoticeKind::CaseReopened => v1::NotificationKind::CaseReopened,
        NoticeKind::NeedsSupervisor => v1::NotificationKind::NeedsSupervisor,
        NoticeKind::ExtensionRequested => v1::NotificationKind::ExtensionRequested,
        NoticeKind::ExtensionDecided => v1::NotificationKind::ExtensionDecided,
    }
}

fn device_to_proto(d: &DeviceRecord) -> v1::Device {
    v1::Device {
        name: format!("devices/{}", d.id),
        platform: platform_to_proto(&d.platform).into(),
        channel: channel_to_proto(d.channel).into(),
        app_version: d.app_version.clone(),
        locale: d.locale.clone(),
        active: d.active,
        create_time: Some(timestamp(d.created_at)),
        update_time: Some(timestamp(d.updated_at)),
    }
}

fn notification_to_proto(e: &InboxEntry) -> v1::Notification {
    let (title, body) = e.kind.generic_text(true);
    v1::Notification {
        name: format!("notifications/{}", e.position.id),
        kind: kind_to_proto(e.kind).into(),
        subject: e.subject.clone(),
        title: title.to_owned(),
        body: body.to_owned(),
        create_time: Some(timestamp(e.created_at)),
        read_time: e.read_at.map(timestamp),
    }
}

fn device_id(value: &str) -> Result<String, String> {
    uuid::Uuid::parse_str(value)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| "must be a UUID".to_owned())
}

fn push_token(value: &str) -> Result<String, String> {
    if value.is_empty() {
        return Err("is required".into());
    }
    if value.len() > MAX_TOKEN_LEN {
        return Err(format!("must be at most {MAX_TOKEN_LEN} bytes"));
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces or control characters".into());
    }
    Ok(value.to_owned())
}

fn app_version(value: &str) -> Result<String, String> {
    if value.len() > 64 || value.chars().any(char::is_control) {
        return Err("must be at most 64 printable characters".into());
    }
    Ok(value.to_owned())
}

/// A BCP 47 tag in its common shape: letters, digits and hyphens, at most 35 characters; empty means the server's default (Chinese).
fn locale(value: &str) -> Result<String, String> {
    if value.len() > 35 || !value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err("must be a BCP 47 language tag such as zh-CN".into());
    }
    Ok(value.to_owned())
}

fn notification_id(name: &str) -> Result<String, String> {
    let id = resource_id(name, "notifications")?;
    uuid::Uuid::parse_str(id)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| "must be notifications/{notification}".to_owned())
}

/// A stream cursor: the causing event's position and the notification's id, as `txid.event.notification`.
fn encode_cursor(p: &InboxPosition) -> String {
    format!("{}.{}.{}", p.event.txid, p.event.id, p.id)
}

fn decode_cursor(value: &str) -> Result<InboxPosition, &'static str> {
    let bad = "is not a cursor this server issued";
    let mut parts = value.splitn(3, '.');
    let txid = parts.next().and_then(|t| t.parse().ok()).ok_or(bad)?;
    let id = parts.next().and_then(|t| t.parse().ok()).ok_or(bad)?;
    let notification = parts.next().ok_or(bad)?;
    Ok(InboxPosition {
        event: EventPosition { txid, id },
        id: notification.to_owned(),
    })
}

#[tonic::async_trait]
impl DeviceService for DeviceApi {
    #[instrument(skip_all)]
    async fn register_device(
        &self,
        request: Request<v1::RegisterDeviceRequest>,
    ) -> Result<Response<v1::RegisterDeviceResponse>, Status> {
        let user = caller(&request)?.actor.user_id;
        let r = request.into_inner();
        let mut v = Violations::default();
        let id = v.check("device_id", device_id(&r.device_id));
        let token = v.check("push_token", push_token(&r.push_token));
        let platform = v.check("platform", platform_from_proto(r.platform));
        let channel = v.check("channel", channel_from_proto(r.channel));
        let app_version = v.check("app_version", app_version(&r.app_version));
        let locale = v.check("locale", locale(&r.locale));
        v.finish()?;
        let (
            Some(id),
            Some(push_token),
            Some(platform),
            Some(channel),
            Some(app_version),
            Some(locale),
        ) = (id, token, platform, channel, app_version, locale)
        else {
            return Err(ApiError::Internal("validated fields missing".into()).into());
        };
        let device = self
            .service
            .register_device(
                &user,
                NewDevice {
                    id,
                    push_token,
                    platform: platform.to_owned(),
                    channel,
                    app_version,
                    locale,
                },
            )
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(v1::RegisterDeviceResponse {
            device: Some(device_to_proto(&device)),
        }))
    }

    #[instrument(skip_all)]
    async fn unregister_device(
        &self,
        request: Request<v1::UnregisterDeviceRequest>,
    ) -> Result<Response<v1::UnregisterDeviceResponse>, Status> {
        let user = caller(&request)?.actor.user_id;
        let name = &request.get_ref().name;
        let id =
            super::convert::only_field("name", resource_id(name, "devices").and_then(device_id))?;
        self.service
            .unregister_device(&user, &id)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(v1::UnregisterDeviceResponse {}))
    }

    #[instrument(skip_all)]
    async fn list_notifications(
        &self,
        request: Request<v1::ListNotificationsRequest>,
    ) -> Result<Response<v1::ListNotificationsResponse>, Status> {
        let actor = caller(&request)?.actor.clone();
        let r = request.into_inner();
        let page = PageRequest::parse(r.page_size, &r.page_token)?;
        let (entries, unread) = self
            .service
            .inbox(&actor, r.unread_only, page.after.as_deref(), page.size)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(v1::ListNotificationsResponse {
            next_page_token: page.next_token(&entries, |e| e.position.id.clone()),
            notifications: entries.iter().map(notification_to_proto).collect(),
            unread_count: fits("unread_count", unread)?,
        }))
    }

    #[instrument(skip_all)]
    async fn mark_notifications_read(
        &self,
        request: Request<v1::MarkNotificationsReadRequest>,
    ) -> Result<Response<v1::MarkNotificationsReadResponse>, Status> {
        let actor = caller(&request)?.actor.clone();
        let r = request.into_inner();
        let mut v = Violations::default();
        let ids: Vec<String> = r
            .names
            .iter()
            .enumerate()
            .filter_map(|(i, name)| v.check(&format!("names[{i}]"), notification_id(name)))
            .collect();
        if r.names.len() > 1_000 {
            v.add(
                "names",
                "must name at most 1000 notifications; use all_before for more",
            );
        }
        let all_before = r
            .all_before
            .as_ref()
            .and_then(|t| super::closed_loop::time(&mut v, "all_before", Some(t)));
        if r.names.is_empty() && r.all_before.is_none() {
            v.add("names", "name at least one notification, or set all_before");
        }
        v.finish()?;
        let marked = self
            .service
            .mark_read(&actor, ids, all_before)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(v1::MarkNotificationsReadResponse {
            marked_count: fits("marked_count", marked)?,
        }))
    }

    type WatchNotificationsStream = BoxStream<v1::WatchNotificationsResponse>;

    #[instrument(skip_all)]
    async fn watch_notifications(
        &self,
        request: Request<v1::WatchNotificationsRequest>,
    ) -> Result<Response<Self::WatchNotificationsStream>, Status> {
        let actor = caller(&request)?.actor.clone();
        let cursor = &request.get_ref().cursor;
        let start = if cursor.is_empty() {
            self.service.horizon().await.map_err(ApiError::from)?
        } else {
            super::convert::only_field("cursor", decode_cursor(cursor))?
        };
        let (feed, scope) = self.service.feed_for(&actor);
        Ok(Response::new(follow_inbox(
            feed,
            scope,
            start,
            self.stop.clone(),
        )))
    }
}

/// Streams `scope`'s inbox after `start` until the client leaves or the server stops.
fn follow_inbox(
    feed: EventFeed,
    scope: InboxScope,
    start: InboxPosition,
    stop: watch::Receiver<bool>,
) -> BoxStream<v1::WatchNotificationsResponse> {
    let reader = feed.clone();
    let scope = std::sync::Arc::new(scope);
    follow_log(&feed, start, stop, move |position| {
        let (reader, scope) = (reader.clone(), scope.clone());
        async move {
            let entries = reader.inbox_after(&scope, &position, STREAM_BATCH).await?;
            Ok(Page {
                full: entries.len() as u64 == STREAM_BATCH,
                items: entries
                    .into_iter()
                    .map(|entry| {
                        let item = v1::WatchNotificationsResponse {
                            notification: Some(notification_to_proto(&entry)),
                            cursor: encode_cursor(&entry.position),
                        };
                        (entry.position, Some(item))
                    })
                    .collect(),
            })
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_a_foreign_one_is_refused() {
        let position = InboxPosition {
            event: EventPosition { txid: 12, id: 345 },
            id: "0194f7a2-0000-7000-8000-000000000001".into(),
        };
        assert_eq!(decode_cursor(&encode_cursor(&position)), Ok(position));
        assert!(decode_cursor("12.x").is_err());
        assert!(decode_cursor("abc").is_err());
    }

    #[test]
    fn device_fields_are_checked() {
        assert!(push_token("").is_err());
        assert!(push_token("a b").is_err());
        assert!(push_token(&"t".repeat(MAX_TOKEN_LEN + 1)).is_err());
        assert!(push_token("fcm:APA91b-xyz_1").is_ok());
        assert!(locale("zh-CN").is_ok());
        assert!(locale("zh_CN").is_err());
        assert!(device_id("not-a-uuid").is_err());
        assert!(platform_from_proto(0).is_err());
        assert!(channel_from_proto(99).is_err());
    }
}
