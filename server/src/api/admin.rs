//! `AdminService`: departments and users now; grids, jurisdictions, the catalogue, policies and the calendar as their issues land.

use std::sync::Arc;

use gridwhistle_dispatcher::Clock;
use gridwhistle_domain::{
    Action, Binding, DepartmentId, DepartmentType, DisplayName, GridId, Password, UserId, Username,
};
use gridwhistle_proto::v1::{self, admin_service_server::AdminService};
use tonic::{Request, Response, Status};
use tracing::{info, instrument, warn};

use super::convert::{
    PageRequest, Violations, caller, resource_id, role_from_proto, role_to_proto, timestamp,
};
use super::error::ApiError;
use super::routing::category_name;
use super::time_limits;
use crate::auth::password;
use crate::auth::revocations::Revocations;
use crate::directory::{self, DirectoryError, UserDraft};
use crate::routing::Routing;
use crate::storage::{
    BoundaryGeneration, BoundaryKind, Department, DepartmentPatch, NewDepartment, Store, User,
    UserPatch,
};
use crate::time_limits::TimeLimits;
use gridwhistle_dispatcher::routing::rules::CategoryRule;
use gridwhistle_domain::RiskGrade;

#[derive(Debug, Clone)]
pub struct AdminApi {
    store: Store,
    clock: Arc<dyn Clock>,
    routing: Arc<Routing>,
    time_limits: Arc<TimeLimits>,
    revocations: Arc<Revocations>,
}

impl AdminApi {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        routing: Arc<Routing>,
        time_limits: Arc<TimeLimits>,
        revocations: Arc<Revocations>,
    ) -> Self {
        Self {
            store,
            clock,
            routing,
            time_limits,
            revocations,
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

fn generation_to_proto(
    feature_count: i32,
    generation: Option<BoundaryGeneration>,
    kind: v1::BoundaryKind,
) -> v1::BoundaryGeneration {
    match generation {
        Some(g) => v1::BoundaryGeneration {
            generation: g.id,
            kind: match g.kind {
                BoundaryKind::Grids => v1::BoundaryKind::Grids,
                BoundaryKind::Jurisdictions => v1::BoundaryKind::Jurisdictions,
            }
            .into(),
            feature_count: g.feature_count,
            importer: g.importer.map(|u| format!("users/{u}")).unwrap_or_default(),
            create_time: Some(timestamp(g.created_at)),
            current: false,
        },
        // Validated only: nothing was stored, so there is no generation number.
        None => v1::BoundaryGeneration {
            feature_count,
            kind: kind.into(),
            ..Default::default()
        },
    }
}

fn grade_to_proto(grade: RiskGrade) -> v1::RiskGrade {
    match grade {
        RiskGrade::A => v1::RiskGrade::A,
        RiskGrade::B => v1::RiskGrade::B,
        RiskGrade::C => v1::RiskGrade::C,
    }
}

fn category_to_proto(rule: CategoryRule) -> v1::CategoryRule {
    v1::CategoryRule {
        name: format!("categories/{}", rule.id),
        display_name: rule.display_name,
        lead_department_type: rule.lead.as_str().to_owned(),
        assisting_department_types: rule.assists.iter().map(|t| t.as_str().to_owned()).collect(),
        default_risk_grade: grade_to_proto(rule.default_grade).into(),
    }
}

/// Parses a catalogue, naming each bad field by its index.
fn catalogue_from_proto(categories: &[v1::CategoryRule]) -> Result<Vec<CategoryRule>, ApiError> {
    let mut v = Violations::default();
    let mut rules = Vec::with_capacity(categories.len());
    let mut seen = std::collections::HashSet::new();
    if categories.is_empty() {
        v.add("categories", "must list at least one category");
    }
    for (i, c) in categories.iter().enumerate() {
        let f = |name: &str| format!("categories[{i}].{name}");
        let id = v.check(&f("name"), category_name(&c.name));
        if let Some(id) = &id
            && !seen.insert(id.clone())
        {
            v.add(&f("name"), format!("{id} appears twice"));
        }
        let display_name = v.check(&f("display_name"), DisplayName::parse(&c.display_name));
        let lead = v.check(
            &f("lead_department_type"),
            DepartmentType::parse(&c.lead_department_type),
        );
        let assists: Vec<Option<DepartmentType>> = c
            .assisting_department_types
            .iter()
            .enumerate()
            .map(|(j, t)| {
                v.check(
                    &f(&format!("assisting_department_types[{j}]")),
                    DepartmentType::parse(t),
                )
            })
            .collect();
        let grade = match v1::RiskGrade::try_from(c.default_risk_grade) {
            Ok(v1::RiskGrade::A) => Some(RiskGrade::A),
            Ok(v1::RiskGrade::B) => Some(RiskGrade::B),
            Ok(v1::RiskGrade::C) => Some(RiskGrade::C),
            Ok(v1::RiskGrade::Unspecified) | Err(_) => {
                v.add(&f("default_risk_grade"), "must be A, B or C");
                None
            }
        };
        if let (Some(id), Some(display_name), Some(lead), Some(default_grade)) =
            (id, display_name, lead, grade)
        {
            rules.push(CategoryRule {
                id,
                display_name: display_name.as_str().to_owned(),
                lead,
                assists: assists.into_iter().flatten().collect(),
                default_grade,
            });
        }
    }
    v.finish()?;
    Ok(rules)
}

impl From<DirectoryError> for ApiError {
    fn from(err: DirectoryError) -> Self {
        match err {
            DirectoryError::Storage(err) => err.into(),
            DirectoryError::Hash(_) => ApiError::internal(err),
        }
    }
}

fn require_admin<T>(request: &Request<T>) -> Result<(), ApiError> {
    caller(request)?
        .actor
        .authorize(Action::AdministerDirectory)
        .map_err(|err| ApiError::access(err, "object"))
}

fn department_to_proto(d: Department) -> v1::Department {
    v1::Department {
        name: format!("departments/{}", d.id),
        display_name: d.display_name.as_str().to_owned(),
        department_type: d.department_type.as_str().to_owned(),
        routing_priority: d.routing_priority,
        fallback_owner: d.fallback_owner,
        create_time: Some(timestamp(d.created_at)),
        update_time: Some(timestamp(d.updated_at)),
    }
}

fn user_to_proto(u: User) -> v1::User {
    v1::User {
        name: format!("users/{}", u.id),
        username: u.username.to_string(),
        display_name: u.display_name.as_str().to_owned(),
        role: role_to_proto(u.binding.role()).into(),
        grid: u
            .binding
            .grid()
            .map(|g| format!("grids/{g}"))
            .unwrap_or_default(),
        department: u
            .binding
            .department()
            .map(|d| format!("departments/{d}"))
            .unwrap_or_default(),
        disabled: u.disabled,
        create_time: Some(timestamp(u.created_at)),
        update_time: Some(timestamp(u.updated_at)),
    }
}

pub(crate) fn department_name(name: &str) -> Result<DepartmentId, String> {
    resource_id(name, "departments")
        .and_then(|id| DepartmentId::parse(id).map_err(|e| e.to_string()))
}

fn grid_name(name: &str) -> Result<GridId, String> {
    resource_id(name, "grids").and_then(|id| GridId::parse(id).map_err(|e| e.to_string()))
}

fn user_name(name: &str) -> Result<UserId, String> {
    resource_id(name, "users").and_then(|id| UserId::parse(id).map_err(|e| e.to_string()))
}

/// Parses an optional unit reference: empty means none.
fn optional<T>(
    value: &str,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<Option<T>, String> {
    if value.is_empty() {
        Ok(None)
    } else {
        parse(value).map(Some)
    }
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
            .store
            .directory()
            .create_department(
                NewDepartment {
                    id,
                    display_name,
                    department_type,
                    routing_priority: department.routing_priority,
                    fallback_owner: department.fallback_owner,
                },
                self.clock.now(),
            )
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
            .store
            .directory()
            .get_department(&id)
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
        let page = PageRequest::parse(request.page_size, &request.page_token)?;
        let departments = self
            .store
            .directory()
            .list_departments(page.after.as_deref(), page.size)
            .await
            .map_err(ApiError::from)?;
        let next_page_token = page.next_token(&departments, |d| d.id.to_string());
        Ok(Response::new(v1::ListDepartmentsResponse {
            departments: departments.into_iter().map(department_to_proto).collect(),
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
            .store
            .directory()
            .update_department(&id, patch, self.clock.now())
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
        let created = directory::add_user(
            &self.store,
            UserDraft {
                username,
                display_name,
                binding,
                password,
            },
            self.clock.now(),
        )
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
        let user = self
            .store
            .directory()
            .get_user(&id)
            .await
            .map_err(ApiError::from)?;
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
            .store
            .directory()
            .list_users(after.as_ref(), page.size)
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
            .store
            .directory()
            .update_user(&id, patch, self.clock.now())
            .await
            .map_err(ApiError::from)?;
        // This replica refuses the user's old access tokens at once; the others within their refresh period.
        self.revocations
            .record(updated.id, updated.token_generation);
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
        let hash = password::hash(new_password)
            .await
            .map_err(ApiError::internal)?;
        let patch = UserPatch {
            password_hash: Some(hash),
            revoke_sessions: true,
            ..UserPatch::default()
        };
        let updated = self
            .store
            .directory()
            .update_user(&id, patch, self.clock.now())
            .await
            .map_err(ApiError::from)?;
        self.revocations
            .record(updated.id, updated.token_generation);
        info!(user = %id, "password set; sessions revoked");
        Ok(Response::new(v1::SetUserPasswordResponse {}))
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
            generation: Some(generation_to_proto(
                outcome.feature_count,
                outcome.generation,
                v1::BoundaryKind::Grids,
            )),
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
            generation: Some(generation_to_proto(
                outcome.feature_count,
                outcome.generation,
                v1::BoundaryKind::Jurisdictions,
            )),
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
            .store
            .boundaries()
            .list_boundary_generations(before, page.size)
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
        let rules = catalogue_from_proto(&request.into_inner().categories)?;
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
            .store
            .boundaries()
            .current_catalogue()
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
            policies: time_limits::policies_to_proto(&set),
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
}
