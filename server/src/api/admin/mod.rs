//! `AdminService`: departments and users now; grids, jurisdictions, the catalogue, policies and the calendar as their issues land.

mod convert;

use std::sync::Arc;

use gridwhistle_domain::{
    Action, Binding, DepartmentId, DepartmentType, DisplayName, Password, UserId, Username,
};
use gridwhistle_proto::v1::{self, admin_service_server::AdminService};
use tonic::{Request, Response, Status};
use tracing::{info, instrument, warn};

use super::convert::{PageRequest, Violations, caller, role_from_proto};
use super::error::ApiError;
use super::time_limits;
use crate::directory::{Directory, DirectoryError, UserDraft};
use crate::routing::{ImportOutcome, Routing};
use crate::stats::StatsService;
use crate::storage::{DepartmentPatch, NewDepartment, UserPatch};
use crate::time_limits::TimeLimits;
use convert::department_to_proto;
use convert::{catalogue_from_proto, generation_to_proto, grid_name, optional, user_to_proto};
pub(crate) use convert::{category_to_proto, department_name, user_name};

#[derive(Debug, Clone)]
pub struct AdminApi {
    directory: Directory,
    routing: Arc<Routing>,
    time_limits: Arc<TimeLimits>,
    stats: Arc<StatsService>,
}

impl AdminApi {
    pub fn new(
        directory: Directory,
        routing: Arc<Routing>,
        time_limits: Arc<TimeLimits>,
        stats: Arc<StatsService>,
    ) -> Self {
        Self {
            directory,
            routing,
            time_limits,
            stats,
        }
    }
}

impl AdminApi {
    /// Routes by a department change on this replica at once; the other replicas take it up at their next refresh, and so does this one should the rebuild fail now (the change itself is stored).
    async fn take_up_department_change(&self) {
        if let Err(err) = self.routing.refresh().await {
            warn!(error = %err, "routing table not rebuilt after a department change; the refresh will retry");
        }
    }
}

impl From<DirectoryError> for ApiError {
    fn from(err: DirectoryError) -> Self {
        match err {
            DirectoryError::Storage(err) => err.into(),
            DirectoryError::Hash(crate::auth::HashError::Busy) => ApiError::Overloaded,
            DirectoryError::Hash(_) => ApiError::internal(err),
        }
    }
}

/// One page of departments by id, and the token of the next; the admin API and the directory list them alike.
pub(crate) async fn departments_page(
    directory: &Directory,
    page_size: i32,
    page_token: &str,
) -> Result<(Vec<v1::Department>, String), ApiError> {
    let page = PageRequest::parse(page_size, page_token)?;
    let departments = directory
        .departments(page.after.as_deref(), page.size)
        .await
        .map_err(ApiError::from)?;
    let next_page_token = page.next_token(&departments, |d| d.id.to_string());
    Ok((
        departments.into_iter().map(department_to_proto).collect(),
        next_page_token,
    ))
}

/// A boundary import's answer: the new generation, or generation 0 when it was only validated.
fn imported(outcome: ImportOutcome, kind: v1::BoundaryKind) -> v1::BoundaryGeneration {
    generation_to_proto(outcome.feature_count, outcome.generation, kind)
}

fn require_admin<T>(request: &Request<T>) -> Result<(), ApiError> {
    caller(request)?
        .actor
        .authorize(Action::AdministerDirectory)
        .map_err(|err| ApiError::access(err, "object"))
}

/// An admin RPC that a later issue implements: admins learn it is pending, everyone else that it is not theirs.
#[tonic::async_trait]
impl AdminService for AdminApi {
    #[instrument(skip_all)]
    async fn create_department(
        &self,
        request: Request<v1::CreateDepartmentRequest>,
    ) -> Result<Response<v1::CreateDepartmentResponse>, Status> {
        require_admin(&request)?;
        let request = request.into_inner();
        let mut v = Violations::default();
        let id = v.check("department_id", DepartmentId::parse(&request.department_id));
        let department = request.department.unwrap_or_default();
        let display_name = v.check(
            "department.display_name",
            DisplayName::parse(&department.display_name),
        );
        let department_type = v.check(
            "department.department_type",
            DepartmentType::parse(&department.department_type),
        );
        v.finish()?;
        let (Some(id), Some(display_name), Some(department_type)) =
            (id, display_name, department_type)
        else {
            return Err(ApiError::field("department", "is invalid").into());
        };
        let created = self
            .directory
            .create_department(NewDepartment {
                id,
                display_name,
                department_type,
                routing_priority: department.routing_priority,
                fallback_owner: department.fallback_owner,
            })
            .await
            .map_err(ApiError::from)?;
        info!(department = %created.id, "department created");
        self.take_up_department_change().await;
        Ok(Response::new(v1::CreateDepartmentResponse {
            department: Some(department_to_proto(created)),
        }))
    }

    #[instrument(skip_all)]
    async fn get_department(
        &self,
        request: Request<v1::GetDepartmentRequest>,
    ) -> Result<Response<v1::GetDepartmentResponse>, Status> {
        require_admin(&request)?;
        let id =
            department_name(&request.get_ref().name).map_err(|e| ApiError::field("name", e))?;
        let department = self
            .directory
            .department(&id)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(v1::GetDepartmentResponse {
            department: Some(department_to_proto(department)),
        }))
    }

    #[instrument(skip_all)]
    async fn list_departments(
        &self,
        request: Request<v1::ListDepartmentsRequest>,
    ) -> Result<Response<v1::ListDepartmentsResponse>, Status> {
        require_admin(&request)?;
        let request = request.into_inner();
        let (departments, next_page_token) =
            departments_page(&self.directory, request.page_size, &request.page_token).await?;
        Ok(Response::new(v1::ListDepartmentsResponse {
            departments,
            next_page_token,
        }))
    }

    #[instrument(skip_all)]
    async fn update_department(
        &self,
        request: Request<v1::UpdateDepartmentRequest>,
    ) -> Result<Response<v1::UpdateDepartmentResponse>, Status> {
        require_admin(&request)?;
        let request = request.into_inner();
        let department = request.department.unwrap_or_default();
        let mut v = Violations::default();
        let id = v.check("department.name", department_name(&department.name));
        let mut patch = DepartmentPatch::default();
        let paths = request.update_mask.map(|m| m.paths).unwrap_or_default();
        if paths.is_empty() {
            v.add("update_mask", "must name at least one field");
        }
        for path in &paths {
            match path.as_str() {
                "display_name" => {
                    patch.display_name = v.check(
                        "department.display_name",
                        DisplayName::parse(&department.display_name),
                    );
                }
                "routing_priority" => patch.routing_priority = Some(department.routing_priority),
                "fallback_owner" => patch.fallback_owner = Some(department.fallback_owner),
                other => v.add("update_mask.paths", format!("{other:?} cannot be updated")),
            }
        }
        v.finish()?;
        let Some(id) = id else {
            return Err(ApiError::field("department.name", "is invalid").into());
        };
        let updated = self
            .directory
            .update_department(&id, patch)
            .await
            .map_err(ApiError::from)?;
        self.take_up_department_change().await;
        Ok(Response::new(v1::UpdateDepartmentResponse {
            department: Some(department_to_proto(updated)),
        }))
    }

    #[instrument(skip_all)]
    async fn create_user(
        &self,
        request: Request<v1::CreateUserRequest>,
    ) -> Result<Response<v1::CreateUserResponse>, Status> {
        require_admin(&request)?;
        let request = request.into_inner();
        let user = request.user.unwrap_or_default();
        let mut v = Violations::default();
        let username = v.check("user.username", Username::parse(&user.username));
        let display_name = v.check("user.display_name", DisplayName::parse(&user.display_name));
        let password = v.check("password", Password::parse(&request.password));
        let role = v.check("user.role", role_from_proto(user.role));
        let grid = v.check("user.grid", optional(&user.grid, grid_name));
        let department = v.check(
            "user.department",
            optional(&user.department, department_name),
        );
        let binding = match (role, grid, department) {
            (Some(role), Some(grid), Some(department)) => {
                let field = if role == gridwhistle_domain::Role::GridWorker || grid.is_some() {
                    "user.grid"
                } else {
                    "user.department"
                };
                v.check(field, Binding::new(role, grid, department))
            }
            _ => None,
        };
        v.finish()?;
        let (Some(username), Some(display_name), Some(password), Some(binding)) =
            (username, display_name, password, binding)
        else {
            return Err(ApiError::field("user", "is invalid").into());
        };
        let created = self
            .directory
            .add_user(UserDraft {
                username,
                display_name,
                binding,
                password,
            })
            .await
            .map_err(ApiError::from)?;
        info!(user = %created.id, role = %created.binding.role(), "user created");
        Ok(Response::new(v1::CreateUserResponse {
            user: Some(user_to_proto(created)),
        }))
    }

    #[instrument(skip_all)]
    async fn get_user(
        &self,
        request: Request<v1::GetUserRequest>,
    ) -> Result<Response<v1::GetUserResponse>, Status> {
        let id = user_name(&request.get_ref().name).map_err(|e| ApiError::field("name", e))?;
        caller(&request)?
            .actor
            .authorize(Action::ReadUser(&id))
            .map_err(|err| ApiError::access(err, "user"))?;
        let user = self.directory.user(&id).await.map_err(ApiError::from)?;
        Ok(Response::new(v1::GetUserResponse {
            user: Some(user_to_proto(user)),
        }))
    }

    #[instrument(skip_all)]
    async fn list_users(
        &self,
        request: Request<v1::ListUsersRequest>,
    ) -> Result<Response<v1::ListUsersResponse>, Status> {
        require_admin(&request)?;
        let request = request.into_inner();
        let page = PageRequest::parse(request.page_size, &request.page_token)?;
        let after = page
            .after
            .as_deref()
            .map(UserId::parse)
            .transpose()
            .map_err(|_| ApiError::field("page_token", "is not a token this server issued"))?;
        let users = self
            .directory
            .users(after.as_ref(), page.size)
            .await
            .map_err(ApiError::from)?;
        let next_page_token = page.next_token(&users, |u| u.id.to_string());
        Ok(Response::new(v1::ListUsersResponse {
            users: users.into_iter().map(user_to_proto).collect(),
            next_page_token,
        }))
    }

    #[instrument(skip_all)]
    async fn update_user(
        &self,
        request: Request<v1::UpdateUserRequest>,
    ) -> Result<Response<v1::UpdateUserResponse>, Status> {
        require_admin(&request)?;
        let request = request.into_inner();
        let user = request.user.unwrap_or_default();
        let mut v = Violations::default();
        let id = v.check("user.name", user_name(&user.name));
        let mut patch = UserPatch::default();
        let paths = request.update_mask.map(|m| m.paths).unwrap_or_default();
        if paths.is_empty() {
            v.add("update_mask", "must name at least one field");
        }
        for path in &paths {
            match path.as_str() {
                "display_name" => {
                    patch.display_name =
                        v.check("user.display_name", DisplayName::parse(&user.display_name));
                }
                "disabled" => {
                    patch.disabled = Some(user.disabled);
                    patch.revoke_sessions = user.disabled;
                }
                other => v.add("update_mask.paths", format!("{other:?} cannot be updated")),
            }
        }
        v.finish()?;
        let Some(id) = id else {
            return Err(ApiError::field("user.name", "is invalid").into());
        };
        let updated = self
            .directory
            .update_user(&id, patch)
            .await
            .map_err(ApiError::from)?;
        info!(user = %updated.id, disabled = updated.disabled, "user updated");
        Ok(Response::new(v1::UpdateUserResponse {
            user: Some(user_to_proto(updated)),
        }))
    }

    #[instrument(skip_all)]
    async fn set_user_password(
        &self,
        request: Request<v1::SetUserPasswordRequest>,
    ) -> Result<Response<v1::SetUserPasswordResponse>, Status> {
        require_admin(&request)?;
        let request = request.into_inner();
        let mut v = Violations::default();
        let id = v.check("name", user_name(&request.name));
        let new_password = v.check("password", Password::parse(&request.password));
        v.finish()?;
        let (Some(id), Some(new_password)) = (id, new_password) else {
            return Err(ApiError::field("name", "is invalid").into());
        };
        self.directory
            .set_password(&id, new_password)
            .await
            .map_err(ApiError::from)?;
        info!(user = %id, "password set; sessions revoked");
        Ok(Response::new(v1::SetUserPasswordResponse {}))
    }

    #[instrument(skip_all)]
    async fn lift_login_lockout(
        &self,
        request: Request<v1::LiftLoginLockoutRequest>,
    ) -> Result<Response<v1::LiftLoginLockoutResponse>, Status> {
        require_admin(&request)?;
        let id = user_name(&request.get_ref().name).map_err(|e| ApiError::field("name", e))?;
        let had_failures = self
            .directory
            .lift_login_lockout(&id)
            .await
            .map_err(ApiError::from)?;
        info!(user = %id, had_failures, "login lockout lifted");
        Ok(Response::new(v1::LiftLoginLockoutResponse { had_failures }))
    }

    #[instrument(skip_all)]
    async fn import_grids(
        &self,
        request: Request<v1::ImportGridsRequest>,
    ) -> Result<Response<v1::ImportGridsResponse>, Status> {
        require_admin(&request)?;
        let importer = caller(&request)?.actor.user_id;
        let request = request.into_inner();
        let outcome = self
            .routing
            .import_grids(request.geojson, Some(importer), request.validate_only)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(v1::ImportGridsResponse {
            generation: Some(imported(outcome, v1::BoundaryKind::Grids)),
        }))
    }

    #[instrument(skip_all)]
    async fn import_jurisdictions(
        &self,
        request: Request<v1::ImportJurisdictionsRequest>,
    ) -> Result<Response<v1::ImportJurisdictionsResponse>, Status> {
        require_admin(&request)?;
        let importer = caller(&request)?.actor.user_id;
        let request = request.into_inner();
        let outcome = self
            .routing
            .import_jurisdictions(request.geojson, Some(importer), request.validate_only)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(v1::ImportJurisdictionsResponse {
            generation: Some(imported(outcome, v1::BoundaryKind::Jurisdictions)),
        }))
    }

    #[instrument(skip_all)]
    async fn list_boundary_generations(
        &self,
        request: Request<v1::ListBoundaryGenerationsRequest>,
    ) -> Result<Response<v1::ListBoundaryGenerationsResponse>, Status> {
        require_admin(&request)?;
        let request = request.into_inner();
        let wanted = v1::BoundaryKind::try_from(request.kind)
            .map_err(|_| ApiError::field("kind", "is not a known boundary kind"))?;
        let page = PageRequest::parse(request.page_size, &request.page_token)?;
        let before = page
            .after
            .as_deref()
            .map(str::parse::<i64>)
            .transpose()
            .map_err(|_| ApiError::field("page_token", "is not a token this server issued"))?;
        let generations = self
            .routing
            .generations(before, page.size)
            .await
            .map_err(ApiError::from)?;
        let next_page_token = page.next_token(&generations, |g| g.id.to_string());
        let current = self.routing.table().generation();
        Ok(Response::new(v1::ListBoundaryGenerationsResponse {
            generations: generations
                .into_iter()
                .map(|g| {
                    let is_current = g.id == current;
                    let mut proto = generation_to_proto(
                        g.feature_count,
                        Some(g),
                        v1::BoundaryKind::Unspecified,
                    );
                    proto.current = is_current;
                    proto
                })
                .filter(|g| wanted == v1::BoundaryKind::Unspecified || g.kind == i32::from(wanted))
                .collect(),
            next_page_token,
        }))
    }

    #[instrument(skip_all)]
    async fn import_dispatch_catalogue(
        &self,
        request: Request<v1::ImportDispatchCatalogueRequest>,
    ) -> Result<Response<v1::ImportDispatchCatalogueResponse>, Status> {
        require_admin(&request)?;
        let request = request.into_inner();
        let rules = catalogue_from_proto(&request.categories)?;
        if request.validate_only {
            return Ok(Response::new(v1::ImportDispatchCatalogueResponse {
                version: 0,
            }));
        }
        let version = self
            .routing
            .import_catalogue(rules)
            .await
            .map_err(ApiError::from)?;
        info!(version, "dispatch catalogue imported");
        Ok(Response::new(v1::ImportDispatchCatalogueResponse {
            version,
        }))
    }

    #[instrument(skip_all)]
    async fn get_dispatch_catalogue(
        &self,
        request: Request<v1::GetDispatchCatalogueRequest>,
    ) -> Result<Response<v1::GetDispatchCatalogueResponse>, Status> {
        require_admin(&request)?;
        let (version, rules) = self
            .routing
            .catalogue()
            .await
            .map_err(ApiError::from)?
            .unwrap_or_default();
        Ok(Response::new(v1::GetDispatchCatalogueResponse {
            categories: rules.into_iter().map(category_to_proto).collect(),
            version,
        }))
    }

    #[instrument(skip_all)]
    async fn import_time_limit_policies(
        &self,
        request: Request<v1::ImportTimeLimitPoliciesRequest>,
    ) -> Result<Response<v1::ImportTimeLimitPoliciesResponse>, Status> {
        require_admin(&request)?;
        let policies = time_limits::policies_from_proto(&request.into_inner().policies)?;
        let version = self
            .time_limits
            .import(policies)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(v1::ImportTimeLimitPoliciesResponse {
            version,
        }))
    }

    #[instrument(skip_all)]
    async fn get_time_limit_policies(
        &self,
        request: Request<v1::GetTimeLimitPoliciesRequest>,
    ) -> Result<Response<v1::GetTimeLimitPoliciesResponse>, Status> {
        require_admin(&request)?;
        let version = request.into_inner().version;
        if version < 0 {
            return Err(ApiError::field("version", "must not be negative").into());
        }
        let set = self
            .time_limits
            .policies((version > 0).then_some(version))
            .await
            .map_err(ApiError::from)?
            .ok_or(ApiError::NotFound {
                resource: "time-limit policies version",
            })?;
        Ok(Response::new(v1::GetTimeLimitPoliciesResponse {
            policies: time_limits::policies_to_proto(&set)?,
            version: set.version(),
        }))
    }

    #[instrument(skip_all)]
    async fn put_working_calendar(
        &self,
        request: Request<v1::PutWorkingCalendarRequest>,
    ) -> Result<Response<v1::PutWorkingCalendarResponse>, Status> {
        require_admin(&request)?;
        let year = time_limits::year_from_proto(request.into_inner().calendar.as_ref())?;
        self.time_limits
            .put_year(year.clone())
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(v1::PutWorkingCalendarResponse {
            calendar: Some(time_limits::year_to_proto(&year)),
        }))
    }

    #[instrument(skip_all)]
    async fn get_working_calendar(
        &self,
        request: Request<v1::GetWorkingCalendarRequest>,
    ) -> Result<Response<v1::GetWorkingCalendarResponse>, Status> {
        require_admin(&request)?;
        let year = request.into_inner().year;
        let snapshot = self.time_limits.snapshot();
        let calendar = snapshot.calendar.year(year).ok_or(ApiError::NotFound {
            resource: "calendar year",
        })?;
        Ok(Response::new(v1::GetWorkingCalendarResponse {
            calendar: Some(time_limits::year_to_proto(calendar)),
        }))
    }

    #[instrument(skip_all)]
    async fn rebuild_stats_facts(
        &self,
        request: Request<v1::RebuildStatsFactsRequest>,
    ) -> Result<Response<v1::RebuildStatsFactsResponse>, Status> {
        let actor = caller(&request)?.actor.clone();
        let summary = self
            .stats
            .rebuild(&actor)
            .await
            .map_err(super::stats::rebuild_refused)?;
        Ok(Response::new(super::stats::rebuild_to_proto(summary)))
    }
}
