//! The gRPC side of a replica as it is put together: the APIs with their limits, the routes (health, reflection, each API behind authentication but the auth service), CORS for gRPC-Web, and the span each call runs in.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue, Method};
use tonic::service::interceptor::InterceptedService;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tracing::{Span, info_span};

use gridwhistle_proto::v1::admin_service_server::AdminServiceServer;
use gridwhistle_proto::v1::attachment_service_server::AttachmentServiceServer;
use gridwhistle_proto::v1::audit_service_server::AuditServiceServer;
use gridwhistle_proto::v1::auth_service_server::AuthServiceServer;
use gridwhistle_proto::v1::case_service_server::CaseServiceServer;
use gridwhistle_proto::v1::device_service_server::DeviceServiceServer;
use gridwhistle_proto::v1::directory_service_server::DirectoryServiceServer;
use gridwhistle_proto::v1::ledger_service_server::LedgerServiceServer;
use gridwhistle_proto::v1::report_service_server::ReportServiceServer;
use gridwhistle_proto::v1::supervision_service_server::SupervisionServiceServer;

use super::{Parts, ServeError, Stopping};
use crate::api::{
    AdminApi, AttachmentApi, AuditApi, AuthApi, CaseApi, DeviceApi, DirectoryApi, LedgerApi,
    ReportApi, SupervisionApi,
};
use crate::config::ServerConfig;
use crate::directory::Directory;
use crate::ledger::LedgerService;
use crate::notifications::Notifications;
use crate::uploads::UploadService;

pub(super) use crate::access::REQUEST_ID;

pub(super) fn cors_layer(origins: &[String]) -> Result<CorsLayer, ServeError> {
    let allow_origin = if origins.is_empty() {
        // Tokens travel in the authorization header, never in cookies, so any origin is safe by default.
        AllowOrigin::any()
    } else {
        let values = origins
            .iter()
            .map(|o| HeaderValue::from_str(o).map_err(|_| ServeError::CorsOrigin(o.clone())))
            .collect::<Result<Vec<_>, _>>()?;
        AllowOrigin::list(values)
    };
    Ok(CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods([Method::POST, Method::OPTIONS])
        .allow_headers([
            HeaderName::from_static("authorization"),
            HeaderName::from_static("content-type"),
            HeaderName::from_static("x-grpc-web"),
            HeaderName::from_static("x-user-agent"),
            HeaderName::from_static("grpc-timeout"),
            REQUEST_ID,
        ])
        .expose_headers([
            HeaderName::from_static("grpc-status"),
            HeaderName::from_static("grpc-message"),
            HeaderName::from_static("grpc-status-details-bin"),
            REQUEST_ID,
        ])
        .max_age(Duration::from_secs(24 * 3600)))
}

pub(super) fn request_span(request: &http::Request<tonic::body::Body>) -> Span {
    let request_id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    // The authentication interceptor records the caller's user id.
    info_span!(
        "rpc",
        method = %request.uri().path(),
        request_id = %request_id,
        user = tracing::field::Empty
    )
}

/// The APIs, with their message-size limits; watch streams end on `stopping`.
pub(super) struct Apis {
    auth: AuthServiceServer<AuthApi>,
    admin: AdminServiceServer<AdminApi>,
    devices: DeviceServiceServer<DeviceApi>,
    reports: ReportServiceServer<ReportApi>,
    cases: CaseServiceServer<CaseApi>,
    supervision: SupervisionServiceServer<SupervisionApi>,
    directory: DirectoryServiceServer<DirectoryApi>,
    attachments: AttachmentServiceServer<AttachmentApi>,
    ledger: LedgerServiceServer<LedgerApi>,
    audit: AuditServiceServer<AuditApi>,
}

pub(super) fn apis(
    config: &ServerConfig,
    parts: &Parts,
    stopping: Stopping,
) -> Result<Apis, ServeError> {
    let limit = config.max_message_bytes;
    let blobs: Arc<dyn crate::attachments::BlobStore> = match config.attachment_store {
        crate::config::AttachmentStore::Filesystem => Arc::new(
            crate::attachments::FsBlobStore::new(config.attachment_dir.clone())
                .map_err(ServeError::Attachments)?,
        ),
        crate::config::AttachmentStore::Database => Arc::new(
            crate::attachments::database::DbBlobStore::new(parts.store.clone()),
        ),
    };
    let uploads = UploadService::new(
        parts.store.clone(),
        blobs.clone(),
        config.max_attachment_bytes,
    );
    let service = &parts.service;
    let directory = Directory::new(
        parts.store.clone(),
        parts.clock.clone(),
        parts.revocations.clone(),
    );
    Ok(Apis {
        auth: AuthServiceServer::new(AuthApi::new(
            parts.authenticator.clone(),
            parts.time_limits.clone(),
        ))
        .max_decoding_message_size(limit),
        admin: AdminServiceServer::new(AdminApi::new(
            directory.clone(),
            parts.routing.clone(),
            parts.time_limits.clone(),
            parts.stats.clone(),
        ))
        .max_decoding_message_size(config.max_import_bytes),
        devices: DeviceServiceServer::new(DeviceApi::new(
            Notifications::new(parts.store.clone(), parts.clock.clone()),
            stopping.clone(),
        ))
        .max_decoding_message_size(limit),
        reports: ReportServiceServer::new(ReportApi::new(
            parts.routing.clone(),
            service.clone(),
            uploads,
            stopping.clone(),
        ))
        .max_decoding_message_size(limit),
        cases: CaseServiceServer::new(CaseApi::new(service.clone(), stopping.clone()))
            .max_decoding_message_size(limit),
        supervision: SupervisionServiceServer::new(SupervisionApi::new(
            service.clone(),
            parts.stats.clone(),
            stopping,
        ))
        .max_decoding_message_size(limit),
        directory: DirectoryServiceServer::new(DirectoryApi::new(directory, parts.routing.clone()))
            .max_decoding_message_size(limit),
        attachments: AttachmentServiceServer::new(AttachmentApi::new(service.clone(), blobs))
            .max_decoding_message_size(limit),
        ledger: LedgerServiceServer::new(LedgerApi::new(Arc::new(LedgerService::new(
            parts.store.clone(),
            parts.time_limits.clone(),
            parts.clock.clone(),
            service.clone(),
        ))))
        .max_decoding_message_size(limit),
        audit: AuditServiceServer::new(AuditApi::new(crate::reveals::RevealAudit::new(
            parts.store.clone(),
            parts.clock.clone(),
        )))
        .max_decoding_message_size(limit),
    })
}

/// Server reflection over the contract and the health service.
pub(super) fn reflection() -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(gridwhistle_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
}

/// The gRPC routes: health, reflection and the APIs, each authenticated but the auth service.
pub(super) fn grpc_routes(
    parts: &Parts,
    apis: Apis,
    health_service: tonic_health::pb::health_server::HealthServer<
        impl tonic_health::pb::health_server::Health,
    >,
) -> Result<tonic::service::Routes, ServeError> {
    let require_auth = parts.require_auth.clone();
    Ok(tonic::service::Routes::new(health_service)
        // grpcurl and most tools speak v1; some older clients still ask for v1alpha.
        .add_service(reflection().build_v1()?)
        .add_service(reflection().build_v1alpha()?)
        .add_service(apis.auth)
        .add_service(InterceptedService::new(apis.admin, require_auth.clone()))
        .add_service(InterceptedService::new(apis.devices, require_auth.clone()))
        .add_service(InterceptedService::new(apis.reports, require_auth.clone()))
        .add_service(InterceptedService::new(apis.cases, require_auth.clone()))
        .add_service(InterceptedService::new(
            apis.supervision,
            require_auth.clone(),
        ))
        .add_service(InterceptedService::new(
            apis.directory,
            require_auth.clone(),
        ))
        .add_service(InterceptedService::new(
            apis.attachments,
            require_auth.clone(),
        ))
        .add_service(InterceptedService::new(apis.ledger, require_auth.clone()))
        .add_service(InterceptedService::new(apis.audit, require_auth)))
}
