//! `ReportService`: routing previews now; reports, attachments and the whistle loop as their issue lands.

use std::sync::Arc;

use gridwhistle_proto::v1::{self, report_service_server::ReportService};
use tonic::{Request, Response, Status, Streaming};
use tracing::instrument;

use super::convert::{Violations, caller};
use super::error::ApiError;
use super::pending::{BoxStream, pending};
use super::routing::{category_name, decision_to_proto, position};
use crate::routing::Routing;

#[derive(Debug, Clone)]
pub struct ReportApi {
    routing: Arc<Routing>,
}

impl ReportApi {
    pub fn new(routing: Arc<Routing>) -> Self {
        Self { routing }
    }
}

#[tonic::async_trait]
impl ReportService for ReportApi {
    /// Any signed-in user may preview: the answer names departments, never people.
    #[instrument(skip_all)]
    async fn preview_routing(
        &self,
        request: Request<v1::PreviewRoutingRequest>,
    ) -> Result<Response<v1::PreviewRoutingResponse>, Status> {
        caller(&request)?;
        let request = request.into_inner();
        let mut v = Violations::default();
        let position = position(&mut v, "location", request.location.as_ref());
        let category = v.check("category", category_name(&request.category));
        v.finish()?;
        let (Some(position), Some(category)) = (position, category) else {
            return Err(ApiError::field("location", "is invalid").into());
        };
        let decision = self
            .routing
            .preview(position, &category)
            .map_err(ApiError::from)?;
        Ok(Response::new(v1::PreviewRoutingResponse {
            decision: Some(decision_to_proto(&decision)),
        }))
    }

    async fn create_report(
        &self,
        _r: Request<v1::CreateReportRequest>,
    ) -> Result<Response<v1::CreateReportResponse>, Status> {
        pending("ReportService.CreateReport")
    }

    async fn get_report(
        &self,
        _r: Request<v1::GetReportRequest>,
    ) -> Result<Response<v1::GetReportResponse>, Status> {
        pending("ReportService.GetReport")
    }

    async fn list_my_reports(
        &self,
        _r: Request<v1::ListMyReportsRequest>,
    ) -> Result<Response<v1::ListMyReportsResponse>, Status> {
        pending("ReportService.ListMyReports")
    }

    async fn upload_attachment(
        &self,
        _r: Request<Streaming<v1::UploadAttachmentRequest>>,
    ) -> Result<Response<v1::UploadAttachmentResponse>, Status> {
        pending("ReportService.UploadAttachment")
    }

    async fn query_upload(
        &self,
        _r: Request<v1::QueryUploadRequest>,
    ) -> Result<Response<v1::QueryUploadResponse>, Status> {
        pending("ReportService.QueryUpload")
    }

    async fn resolve_on_site(
        &self,
        _r: Request<v1::ResolveOnSiteRequest>,
    ) -> Result<Response<v1::ResolveOnSiteResponse>, Status> {
        pending("ReportService.ResolveOnSite")
    }

    async fn whistle(
        &self,
        _r: Request<v1::WhistleRequest>,
    ) -> Result<Response<v1::WhistleResponse>, Status> {
        pending("ReportService.Whistle")
    }

    async fn verify_resolution(
        &self,
        _r: Request<v1::VerifyResolutionRequest>,
    ) -> Result<Response<v1::VerifyResolutionResponse>, Status> {
        pending("ReportService.VerifyResolution")
    }

    type WatchMyReportsStream = BoxStream<v1::WatchMyReportsResponse>;

    async fn watch_my_reports(
        &self,
        _r: Request<v1::WatchMyReportsRequest>,
    ) -> Result<Response<Self::WatchMyReportsStream>, Status> {
        pending("ReportService.WatchMyReports")
    }
}
