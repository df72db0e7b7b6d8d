//! The directory: departments, grids, users, their sessions (refresh tokens and token generations) and the signing key.

use gridwhistle_domain::{Binding, DepartmentId, GridId, Timestamp, UserId, Username};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};
use tracing::instrument;

use super::entity::{department, grid, refresh_token, signing_key, user};
use super::records::{
    Department, DepartmentPatch, Grid, NewDepartment, NewGrid, NewRefreshToken, NewUser,
    RefreshTokenRecord, User, UserCredentials, UserPatch,
};
use super::{DirectoryRepo, StorageError, codec, records};

impl DirectoryRepo<'_> {
    // --- departments ---

    #[instrument(skip_all, fields(department = %new.id))]
    pub async fn create_department(
        self,
        new: NewDepartment,
        now: Timestamp,
    ) -> Result<Department, StorageError> {
        let model = department::ActiveModel {
            id: Set(new.id.as_str().to_owned()),
            display_name: Set(new.display_name.as_str().to_owned()),
            department_type: Set(new.department_type.as_str().to_owned()),
            routing_priority: Set(new.routing_priority),
            fallback_owner: Set(new.fallback_owner),
            created_at_ms: Set(now.as_unix_millis()),
            updated_at_ms: Set(now.as_unix_millis()),
        };
        department::Entity::insert(model)
            .exec_without_returning(&self.store.db)
            .await
            .map_err(|err| StorageError::classify(err, "department", "department"))?;
        self.get_department(&new.id).await
    }

    #[instrument(skip_all, fields(department = %id))]
    pub async fn get_department(self, id: &DepartmentId) -> Result<Department, StorageError> {
        department::Entity::find_by_id(id.as_str())
            .one(&self.store.db)
            .await?
            .ok_or(StorageError::NotFound {
                entity: "department",
            })
            .and_then(records::department_from_model)
    }

    /// Every department, by id, read a page at a time.
    pub async fn all_departments(self) -> Result<Vec<Department>, StorageError> {
        const PAGE: u64 = 500;
        let mut all: Vec<Department> = Vec::new();
        loop {
            let after = all.last().map(|d| d.id.to_string());
            let page = self.list_departments(after.as_deref(), PAGE).await?;
            let full = page.len() as u64 == PAGE;
            all.extend(page);
            if !full {
                return Ok(all);
            }
        }
    }

    /// Lists departments by id, starting after `after`.
    #[instrument(skip_all, fields(limit))]
    pub async fn list_departments(
        self,
        after: Option<&str>,
        limit: u64,
    ) -> Result<Vec<Department>, StorageError> {
        let mut query = department::Entity::find().order_by_asc(department::Column::Id);
        if let Some(after) = after {
            query = query.filter(department::Column::Id.gt(after));
        }
        query
            .limit(limit)
            .all(&self.store.db)
            .await?
            .into_iter()
            .map(records::department_from_model)
            .collect()
    }

    #[instrument(skip_all, fields(department = %id))]
    pub async fn update_department(
        self,
        id: &DepartmentId,
        patch: DepartmentPatch,
        now: Timestamp,
    ) -> Result<Department, StorageError> {
        let model = department::ActiveModel {
            id: Set(id.as_str().to_owned()),
            display_name: patch
                .display_name
                .map_or(NotSet, |name| Set(name.as_str().to_owned())),
            department_type: NotSet,
            routing_priority: patch.routing_priority.map_or(NotSet, Set),
            fallback_owner: patch.fallback_owner.map_or(NotSet, Set),
            created_at_ms: NotSet,
            updated_at_ms: Set(now.as_unix_millis()),
        };
        let updated = department::Entity::update_many()
            .set(model)
            .filter(department::Column::Id.eq(id.as_str()))
            .exec(&self.store.db)
            .await?;
        if updated.rows_affected == 0 {
            return Err(StorageError::NotFound {
                entity: "department",
            });
        }
        self.get_department(id).await
    }

    // --- grids ---

    /// Inserts grids all together or not at all.
    #[instrument(skip_all, fields(count = grids.len()))]
    pub async fn insert_grids(self, grids: &[NewGrid], now: Timestamp) -> Result<(), StorageError> {
        if grids.is_empty() {
            return Ok(());
        }
        let models = grids.iter().map(|new| grid::ActiveModel {
            id: Set(new.id.as_str().to_owned()),
            display_name: Set(new.display_name.as_str().to_owned()),
            community: Set(new.community.clone()),
            street: Set(new.street.clone()),
            district: Set(new.district.clone()),
            created_at_ms: Set(now.as_unix_millis()),
        });
        let txn = self.store.db.begin().await?;
        grid::Entity::insert_many(models)
            .exec_without_returning(&txn)
            .await
            .map_err(|err| StorageError::classify(err, "grid", "grid"))?;
        txn.commit().await?;
        Ok(())
    }

    #[instrument(skip_all, fields(grid = %id))]
    pub async fn get_grid(self, id: &GridId) -> Result<Grid, StorageError> {
        grid::Entity::find_by_id(id.as_str())
            .one(&self.store.db)
            .await?
            .ok_or(StorageError::NotFound { entity: "grid" })
            .and_then(records::grid_from_model)
    }

    // --- users ---

    #[instrument(skip_all, fields(user = %new.id, role = %new.binding.role()))]
    pub async fn create_user(self, new: NewUser, now: Timestamp) -> Result<User, StorageError> {
        // Only one unit column is ever set, so a foreign-key failure names that unit.
        let reference = match &new.binding {
            Binding::GridWorker(_) => "grid",
            _ => "department",
        };
        let model = user::ActiveModel {
            id: Set(new.id.to_string()),
            username: Set(new.username.as_str().to_owned()),
            display_name: Set(new.display_name.as_str().to_owned()),
            password_hash: Set(new.password_hash),
            role: Set(new.binding.role().as_str().to_owned()),
            grid_id: Set(new.binding.grid().map(|g| g.as_str().to_owned())),
            department_id: Set(new.binding.department().map(|d| d.as_str().to_owned())),
            disabled: Set(false),
            created_at_ms: Set(now.as_unix_millis()),
            updated_at_ms: Set(now.as_unix_millis()),
            token_generation: Set(0),
            token_generation_at_ms: Set(None),
        };
        user::Entity::insert(model)
            .exec_without_returning(&self.store.db)
            .await
            .map_err(|err| StorageError::classify(err, "user", reference))?;
        self.get_user(&new.id).await
    }

    #[instrument(skip_all, fields(user = %id))]
    pub async fn get_user(self, id: &UserId) -> Result<User, StorageError> {
        user::Entity::find_by_id(id.to_string())
            .one(&self.store.db)
            .await?
            .ok_or(StorageError::NotFound { entity: "user" })
            .and_then(|model| records::user_from_model(model).map(|c| c.user))
    }

    /// The users among `ids` that exist, in no particular order; an id asked twice is answered once.
    #[instrument(skip_all, fields(ids = ids.len()))]
    pub async fn users_by_ids(self, ids: &[UserId]) -> Result<Vec<User>, StorageError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: std::collections::BTreeSet<String> = ids.iter().map(ToString::to_string).collect();
        user::Entity::find()
            .filter(user::Column::Id.is_in(ids))
            .all(&self.store.db)
            .await?
            .into_iter()
            .map(|model| records::user_from_model(model).map(|c| c.user))
            .collect()
    }

    /// The user with this login name and the password hash to check, if any.
    #[instrument(skip_all)]
    pub async fn find_credentials(
        self,
        username: &Username,
    ) -> Result<Option<UserCredentials>, StorageError> {
        user::Entity::find()
            .filter(user::Column::Username.eq(username.as_str()))
            .one(&self.store.db)
            .await?
            .map(records::user_from_model)
            .transpose()
    }

    /// Lists users by id (time-ordered UUIDv7), starting after `after`.
    #[instrument(skip_all, fields(limit))]
    pub async fn list_users(
        self,
        after: Option<&UserId>,
        limit: u64,
    ) -> Result<Vec<User>, StorageError> {
        let mut query = user::Entity::find().order_by_asc(user::Column::Id);
        if let Some(after) = after {
            query = query.filter(user::Column::Id.gt(after.to_string()));
        }
        query
            .limit(limit)
            .all(&self.store.db)
            .await?
            .into_iter()
            .map(|model| records::user_from_model(model).map(|c| c.user))
            .collect()
    }

    /// Changes a user; disabling also revokes every session, in the same transaction.
    #[instrument(skip_all, fields(user = %id))]
    pub async fn update_user(
        self,
        id: &UserId,
        patch: UserPatch,
        now: Timestamp,
    ) -> Result<User, StorageError> {
        let txn = self.store.db.begin().await?;
        let mut model = user::ActiveModel {
            updated_at_ms: Set(now.as_unix_millis()),
            ..Default::default()
        };
        if let Some(name) = &patch.display_name {
            model.display_name = Set(name.as_str().to_owned());
        }
        if let Some(disabled) = patch.disabled {
            model.disabled = Set(disabled);
        }
        if let Some(hash) = patch.password_hash {
            model.password_hash = Set(hash);
        }
        let updated = user::Entity::update_many()
            .set(model)
            .filter(user::Column::Id.eq(id.to_string()))
            .exec(&txn)
            .await?;
        if updated.rows_affected == 0 {
            return Err(StorageError::NotFound { entity: "user" });
        }
        if patch.revoke_sessions {
            revoke_tokens(&txn, refresh_token::Column::UserId, &id.to_string(), now).await?;
            bump_token_generation(&txn, id, now).await?;
        }
        txn.commit().await?;
        self.get_user(id).await
    }

    // --- refresh tokens ---

    #[instrument(skip_all, fields(user = %token.user_id))]
    pub async fn insert_refresh_token(self, token: NewRefreshToken) -> Result<(), StorageError> {
        refresh_token::Entity::insert(records::refresh_token_model(token))
            .exec_without_returning(&self.store.db)
            .await
            .map_err(|err| StorageError::classify(err, "refresh token", "user"))?;
        Ok(())
    }

    #[instrument(skip_all)]
    pub async fn find_refresh_token(
        self,
        id: &str,
    ) -> Result<Option<RefreshTokenRecord>, StorageError> {
        refresh_token::Entity::find_by_id(id)
            .one(&self.store.db)
            .await?
            .map(records::refresh_token_from_model)
            .transpose()
    }

    /// Marks `old_id` used and stores its successor, atomically.
    ///
    /// Returns false, changing nothing, when `old_id` was already used or revoked: that is a replayed token, and only one of two racing replicas can win.
    #[instrument(skip_all)]
    pub async fn rotate_refresh_token(
        self,
        old_id: &str,
        successor: NewRefreshToken,
    ) -> Result<bool, StorageError> {
        let txn = self.store.db.begin().await?;
        // The conditional update comes first so SQLite takes its write lock before any read.
        let used = refresh_token::Entity::update_many()
            .col_expr(
                refresh_token::Column::UsedAtMs,
                Expr::value(successor.issued_at.as_unix_millis()),
            )
            .filter(refresh_token::Column::Id.eq(old_id))
            .filter(refresh_token::Column::UsedAtMs.is_null())
            .filter(refresh_token::Column::RevokedAtMs.is_null())
            .exec(&txn)
            .await?;
        if used.rows_affected != 1 {
            return Ok(false);
        }
        refresh_token::Entity::insert(records::refresh_token_model(successor))
            .exec_without_returning(&txn)
            .await
            .map_err(|err| StorageError::classify(err, "refresh token", "user"))?;
        txn.commit().await?;
        Ok(true)
    }

    /// Revokes every token of a session; returns how many were still live.
    #[instrument(skip_all)]
    pub async fn revoke_refresh_family(
        self,
        family_id: &str,
        now: Timestamp,
    ) -> Result<u64, StorageError> {
        revoke_tokens(
            &self.store.db,
            refresh_token::Column::FamilyId,
            family_id,
            now,
        )
        .await
    }

    /// Revokes a refresh family whose used token was presented again, and every access token of its user, in one transaction; returns the user's new token generation.
    #[instrument(skip_all, fields(user = %user))]
    pub async fn revoke_replayed_family(
        self,
        family_id: &str,
        user: &UserId,
        now: Timestamp,
    ) -> Result<i64, StorageError> {
        let txn = self.store.db.begin().await?;
        revoke_tokens(&txn, refresh_token::Column::FamilyId, family_id, now).await?;
        let generation = bump_token_generation(&txn, user, now).await?;
        txn.commit().await?;
        Ok(generation)
    }

    /// Every user whose token generation changed at or after `since`, with that generation: access tokens of an older one are refused.
    #[instrument(skip_all)]
    pub async fn token_generations_since(
        self,
        since: Timestamp,
    ) -> Result<Vec<(UserId, i64)>, StorageError> {
        user::Entity::find()
            .select_only()
            .column(user::Column::Id)
            .column(user::Column::TokenGeneration)
            .filter(user::Column::TokenGenerationAtMs.gte(since.as_unix_millis()))
            .into_tuple::<(String, i64)>()
            .all(&self.store.db)
            .await?
            .into_iter()
            .map(|(id, generation)| {
                UserId::parse(&id)
                    .map(|id| (id, generation))
                    .map_err(|e| codec::corrupt("user", e))
            })
            .collect()
    }

    // --- signing keys ---

    /// Returns the stored secret named `id`, storing `candidate` first if there is none, so every replica signs with the same key.
    #[instrument(skip_all, fields(key = id))]
    pub async fn ensure_signing_key(
        self,
        id: &str,
        candidate_base64: String,
        now: Timestamp,
    ) -> Result<String, StorageError> {
        let model = signing_key::ActiveModel {
            id: Set(id.to_owned()),
            secret_base64: Set(candidate_base64),
            created_at_ms: Set(now.as_unix_millis()),
        };
        signing_key::Entity::insert(model)
            .on_conflict(
                OnConflict::column(signing_key::Column::Id)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(&self.store.db)
            .await?;
        signing_key::Entity::find_by_id(id)
            .one(&self.store.db)
            .await?
            .map(|key| key.secret_base64)
            .ok_or(StorageError::NotFound {
                entity: "signing key",
            })
    }
}

/// Moves `user` to a new token generation, so that every access token issued before is refused; returns the new generation.
async fn bump_token_generation(
    db: &impl ConnectionTrait,
    user: &UserId,
    now: Timestamp,
) -> Result<i64, StorageError> {
    user::Entity::update_many()
        .col_expr(
            user::Column::TokenGeneration,
            sea_orm::sea_query::ExprTrait::add(Expr::col(user::Column::TokenGeneration), 1),
        )
        .col_expr(
            user::Column::TokenGenerationAtMs,
            Expr::value(now.as_unix_millis()),
        )
        .filter(user::Column::Id.eq(user.to_string()))
        .exec(db)
        .await?;
    user::Entity::find_by_id(user.to_string())
        .select_only()
        .column(user::Column::TokenGeneration)
        .into_tuple::<i64>()
        .one(db)
        .await?
        .ok_or(StorageError::NotFound { entity: "user" })
}

async fn revoke_tokens(
    db: &impl ConnectionTrait,
    column: refresh_token::Column,
    value: &str,
    now: Timestamp,
) -> Result<u64, StorageError> {
    let revoked = refresh_token::Entity::update_many()
        .col_expr(
            refresh_token::Column::RevokedAtMs,
            Expr::value(now.as_unix_millis()),
        )
        .filter(column.eq(value))
        .filter(refresh_token::Column::RevokedAtMs.is_null())
        .exec(db)
        .await?;
    Ok(revoked.rows_affected)
}
