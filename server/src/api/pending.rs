//! Services whose RPCs later issues implement: each answers `UNIMPLEMENTED` (after authentication), never fake data.

use std::pin::Pin;

use gridwhistle_proto::v1;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::error::ApiError;

pub(super) type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

pub(super) fn pending<T>(rpc: &'static str) -> Result<Response<T>, Status> {
    Err(ApiError::Unimplemented { rpc }.into())
}

/// Implements a generated service trait whose every RPC is still pending.
macro_rules! pending_service {
    (
        $(#[$doc:meta])* $ty:ident: $service:path {
            $(fn $method:ident($req:ty) -> $resp:ty = $rpc:literal;)*
            $(stream $smethod:ident($sreq:ty) -> $stype:ident<$sresp:ty> = $srpc:literal;)*
        }
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default)]
        pub struct $ty;

        #[tonic::async_trait]
        impl $service for $ty {
            $(
                async fn $method(&self, _request: Request<$req>) -> Result<Response<$resp>, Status> {
                    pending($rpc)
                }
            )*
            $(
                type $stype = BoxStream<$sresp>;

                async fn $smethod(&self, _request: Request<$sreq>) -> Result<Response<Self::$stype>, Status> {
                    pending($srpc)
                }
            )*
        }
    };
}

pending_service! {
    /// `DeviceService`: devices and the in-app inbox (the push issue).
    PendingDevices: v1::device_service_server::DeviceService {
        fn register_device(v1::RegisterDeviceRequest) -> v1::RegisterDeviceResponse = "DeviceService.RegisterDevice";
        fn unregister_device(v1::UnregisterDeviceRequest) -> v1::UnregisterDeviceResponse = "DeviceService.UnregisterDevice";
        fn list_notifications(v1::ListNotificationsRequest) -> v1::ListNotificationsResponse = "DeviceService.ListNotifications";
        fn mark_notifications_read(v1::MarkNotificationsReadRequest) -> v1::MarkNotificationsReadResponse = "DeviceService.MarkNotificationsRead";
        stream watch_notifications(v1::WatchNotificationsRequest) -> WatchNotificationsStream<v1::WatchNotificationsResponse> = "DeviceService.WatchNotifications";
    }
}
