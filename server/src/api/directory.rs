//! `DirectoryService` for every signed-in role: the catalogue's categories, the departments, user cards and the caller's own area, read-only and free of personal data.

use std::sync::Arc;

use gridwhistle_domain::{Action, Binding};
use gridwhistle_proto::v1::{self, directory_service_server::DirectoryService};
use tonic::{Request, Response, Status};
use tracing::instrument;

use super::admin::{category_to_proto, departments_page, user_name};
use super::convert::{Violations, caller, role_to_proto};
use super::error::ApiError;
use crate::directory::{Directory, MissingUser};
use crate::routing::Routing;
use crate::storage::User;

/// Most user cards one batch may ask for.
const MAX_CARDS: usize = 100;

#[derive(Debug, Clone)]
pub struct DirectoryApi {
    directory: Directory,
    routing: Arc<Routing>,
}

impl DirectoryApi {
    pub fn new(directory: Directory, routing: Arc<Routing>) -> Self {
        Self { directory, routing }
    }
}

/// The caller's binding, once they may read the directory.
fn reader<T>(request: &Request<T>) -> Result<Binding, ApiError> {
    let actor = &caller(request)?.actor;
    actor
        .authorize(Action::ReadDirectory)
        .map_err(|e| ApiError::access(e, "directory"))?;
    Ok(actor.binding.clone())
}

fn card(user: User) -> v1::UserCard {
    let unit = match &user.binding {
        Binding::GridWorker(grid) => format!("grids/{grid}"),
        Binding::DutyOfficer(d) | Binding::DepartmentHead(d) => format!("departments/{d}"),
        Binding::Supervisor | Binding::Admin | Binding::DistrictLeader => String::new(),
    };
    v1::UserCard {
        name: format!("users/{}", user.id),
        display_name: user.display_name.as_str().to_owned(),
        role: role_to_proto(user.binding.role()).into(),
        unit,
        disabled: user.disabled,
    }
}

#[tonic::async_trait]
impl DirectoryService for DirectoryApi {
    #[instrument(skip_all)]
    async fn list_categories(
        &self,
        request: Request<v1::ListCategoriesRequest>,
    ) -> Result<Response<v1::ListCategoriesResponse>, Status> {
        reader(&request)?;
        let (catalogue_version, rules) = self
            .routing
            .catalogue()
            .await
            .map_err(ApiError::from)?
            .unwrap_or_default();
        Ok(Response::new(v1::ListCategoriesResponse {
            catalogue_version,
            categories: rules.into_iter().map(category_to_proto).collect(),
        }))
    }

    #[instrument(skip_all)]
    async fn list_directory_departments(
        &self,
        request: Request<v1::ListDirectoryDepartmentsRequest>,
    ) -> Result<Response<v1::ListDirectoryDepartmentsResponse>, Status> {
        reader(&request)?;
        let request = request.into_inner();
        let (departments, next_page_token) =
            departments_page(&self.directory, request.page_size, &request.page_token).await?;
        Ok(Response::new(v1::ListDirectoryDepartmentsResponse {
            departments,
            next_page_token,
        }))
    }

    #[instrument(skip_all)]
    async fn batch_get_user_cards(
        &self,
        request: Request<v1::BatchGetUserCardsRequest>,
    ) -> Result<Response<v1::BatchGetUserCardsResponse>, Status> {
        reader(&request)?;
        let names = request.into_inner().names;
        let mut v = Violations::default();
        if names.is_empty() || names.len() > MAX_CARDS {
            v.add("names", format!("must name 1 to {MAX_CARDS} users"));
        }
        let ids: Vec<_> = names
            .iter()
            .enumerate()
            .filter_map(|(i, name)| v.check(&format!("names[{i}]"), user_name(name)))
            .collect();
        v.finish()?;
        let users = self
            .directory
            .users_in_order(&ids)
            .await
            .map_err(|err| match err {
                MissingUser::Missing(id) => ApiError::NamedNotFound(format!("users/{id}")),
                MissingUser::Storage(err) => ApiError::from(err),
            })?;
        Ok(Response::new(v1::BatchGetUserCardsResponse {
            cards: users.into_iter().map(card).collect(),
        }))
    }

    #[instrument(skip_all)]
    async fn get_my_area(
        &self,
        request: Request<v1::GetMyAreaRequest>,
    ) -> Result<Response<v1::GetMyAreaResponse>, Status> {
        let binding = reader(&request)?;
        let layer = v1::AreaLayer::try_from(request.get_ref().layer)
            .map_err(|_| ApiError::field("layer", "is not a known area layer"))?;
        let areas = self.routing.areas();
        let geojson = match &binding {
            Binding::GridWorker(grid) => areas.grid(grid),
            Binding::DutyOfficer(d) | Binding::DepartmentHead(d) => areas.department(d),
            Binding::Supervisor | Binding::Admin | Binding::DistrictLeader => match layer {
                v1::AreaLayer::Jurisdictions => areas.all_jurisdictions(),
                v1::AreaLayer::Unspecified | v1::AreaLayer::Grids => areas.district(),
            },
        };
        Ok(Response::new(v1::GetMyAreaResponse {
            generation: areas.generation,
            geojson,
        }))
    }
}
