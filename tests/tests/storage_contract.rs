//! The storage contract: every behaviour the server relies on, checked on SQLite and on PostgreSQL alike.

use std::time::Duration;

use gridwhistle_dispatcher::routing::rules::CategoryRule;
use gridwhistle_dispatcher::routing::rules::Position;
use gridwhistle_domain::{
    Binding, DepartmentId, DepartmentType, DisplayName, GridId, Timestamp, UserId, Username,
};
use gridwhistle_domain::{CategoryId, RiskGrade};
use gridwhistle_domain::{CoordinateSystem, GeoPoint, ReportId};
use gridwhistle_server::model::{CreateOutcome, NewReport, ReportKey};
use gridwhistle_server::storage::{
    BoundaryKind, DepartmentPatch, NewBoundaryImport, NewDepartment, NewGrid, NewRefreshToken,
    NewUser, StorageError, Store, UpdateError, UserPatch, YearWrite,
};
use gridwhistle_tests::database::Backend;

const T0: Timestamp = Timestamp::from_unix_millis(1_772_413_200_123);

gridwhistle_tests::contract!(
    migrations_can_run_again_without_change,
    departments_round_trip_and_refuse_duplicates,
    department_patches_change_only_what_they_name,
    departments_list_in_pages_by_id,
    grids_insert_all_together_or_not_at_all,
    users_round_trip_with_their_binding,
    users_bound_to_missing_units_are_refused_as_not_found,
    usernames_are_unique,
    users_list_in_pages_in_creation_order,
    users_are_read_in_batches_by_id,
    a_refresh_token_rotates_exactly_once,
    revoking_a_family_revokes_every_token_in_it,
    disabling_a_user_revokes_their_sessions_in_the_same_change,
    the_first_signing_key_stored_wins,
    boundary_imports_form_generations_that_carry_the_other_kind_forward,
    a_grid_import_creates_and_renames_grids,
    catalogue_versions_replace_each_other_whole,
    reports_filed_together_are_each_answered_on_their_own,
    a_shipped_calendar_year_is_stored_and_recounted_once_and_an_admins_year_replaces,
    login_failures_are_counted_once_each_in_their_window_and_locks_only_grow,
    blob_chunks_append_over_unacknowledged_bytes_seal_once_and_read_by_offset,
    reveals_list_newest_first_by_user_subject_and_time_and_prune_by_age,
);

fn department(id: &str, priority: i32) -> NewDepartment {
    NewDepartment {
        id: DepartmentId::parse(id).unwrap(),
        display_name: DisplayName::parse(&format!("部门 {id}")).unwrap(),
        department_type: DepartmentType::parse("police").unwrap(),
        routing_priority: priority,
        fallback_owner: false,
    }
}

fn grid(id: &str) -> NewGrid {
    NewGrid {
        id: GridId::parse(id).unwrap(),
        display_name: DisplayName::parse(&format!("网格 {id}")).unwrap(),
        community: "建外社区".to_owned(),
        street: "建外街道".to_owned(),
        district: "朝阳区".to_owned(),
    }
}

fn user(username: &str, binding: Binding) -> NewUser {
    NewUser {
        id: UserId::generate(),
        username: Username::parse(username).unwrap(),
        display_name: DisplayName::parse(username).unwrap(),
        binding,
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
    }
}

fn token(id: &str, family: &str, user: UserId) -> NewRefreshToken {
    NewRefreshToken {
        id: id.to_owned(),
        family_id: family.to_owned(),
        user_id: user,
        secret_sha256: format!("{:0>64}", id),
        issued_at: T0,
        expires_at: T0.saturating_add(Duration::from_secs(3600)),
    }
}

mod checks {
    use super::*;

    pub(super) async fn migrations_can_run_again_without_change(store: &Store, _: Backend) {
        store
            .directory()
            .create_department(department("d1", 0), T0)
            .await
            .unwrap();
        store.migrate().await.unwrap();
        assert!(
            store
                .directory()
                .get_department(&DepartmentId::parse("d1").unwrap())
                .await
                .is_ok()
        );
    }

    pub(super) async fn departments_round_trip_and_refuse_duplicates(store: &Store, _: Backend) {
        let created = store
            .directory()
            .create_department(department("police-jw", 3), T0)
            .await
            .unwrap();
        assert_eq!(created.id.as_str(), "police-jw");
        assert_eq!(created.display_name.as_str(), "部门 police-jw");
        assert_eq!(created.routing_priority, 3);
        assert_eq!(
            created.created_at, T0,
            "milliseconds survive the round trip"
        );
        let again = store
            .directory()
            .create_department(department("police-jw", 1), T0)
            .await;
        assert!(matches!(
            again,
            Err(StorageError::AlreadyExists {
                entity: "department"
            })
        ));
        let missing = store
            .directory()
            .get_department(&DepartmentId::parse("nope").unwrap())
            .await;
        assert!(matches!(
            missing,
            Err(StorageError::NotFound {
                entity: "department"
            })
        ));
    }

    pub(super) async fn department_patches_change_only_what_they_name(store: &Store, _: Backend) {
        store
            .directory()
            .create_department(department("housing", 1), T0)
            .await
            .unwrap();
        let later = T0.saturating_add(Duration::from_secs(60));
        let id = DepartmentId::parse("housing").unwrap();
        let patch = DepartmentPatch {
            routing_priority: Some(9),
            ..DepartmentPatch::default()
        };
        let updated = store
            .directory()
            .update_department(&id, patch, later)
            .await
            .unwrap();
        assert_eq!(updated.routing_priority, 9);
        assert_eq!(updated.display_name.as_str(), "部门 housing");
        assert!(!updated.fallback_owner);
        assert_eq!((updated.created_at, updated.updated_at), (T0, later));
        let missing = store
            .directory()
            .update_department(
                &DepartmentId::parse("ghost").unwrap(),
                DepartmentPatch::default(),
                later,
            )
            .await;
        assert!(matches!(
            missing,
            Err(StorageError::NotFound {
                entity: "department"
            })
        ));
    }

    pub(super) async fn departments_list_in_pages_by_id(store: &Store, _: Backend) {
        for id in ["c", "a", "e", "b", "d"] {
            store
                .directory()
                .create_department(department(id, 0), T0)
                .await
                .unwrap();
        }
        let first = store.directory().list_departments(None, 2).await.unwrap();
        let ids = |page: &[gridwhistle_server::storage::Department]| {
            page.iter().map(|d| d.id.to_string()).collect::<Vec<_>>()
        };
        assert_eq!(ids(&first), ["a", "b"]);
        let second = store
            .directory()
            .list_departments(Some("b"), 2)
            .await
            .unwrap();
        assert_eq!(ids(&second), ["c", "d"]);
        let last = store
            .directory()
            .list_departments(Some("d"), 2)
            .await
            .unwrap();
        assert_eq!(ids(&last), ["e"]);
        let all = store.directory().all_departments().await.unwrap();
        assert_eq!(ids(&all), ["a", "b", "c", "d", "e"]);
    }

    pub(super) async fn grids_insert_all_together_or_not_at_all(store: &Store, _: Backend) {
        store
            .directory()
            .insert_grids(&[grid("g-1")], T0)
            .await
            .unwrap();
        let clash = store
            .directory()
            .insert_grids(&[grid("g-2"), grid("g-1")], T0)
            .await;
        assert!(matches!(
            clash,
            Err(StorageError::AlreadyExists { entity: "grid" })
        ));
        let g2 = store
            .directory()
            .get_grid(&GridId::parse("g-2").unwrap())
            .await;
        assert!(
            matches!(g2, Err(StorageError::NotFound { entity: "grid" })),
            "nothing half-inserted"
        );
        let g1 = store
            .directory()
            .get_grid(&GridId::parse("g-1").unwrap())
            .await
            .unwrap();
        assert_eq!(g1.street, "建外街道");
    }

    pub(super) async fn users_round_trip_with_their_binding(store: &Store, _: Backend) {
        store
            .directory()
            .insert_grids(&[grid("g-7")], T0)
            .await
            .unwrap();
        store
            .directory()
            .create_department(department("police-jw", 0), T0)
            .await
            .unwrap();
        let bindings = [
            Binding::GridWorker(GridId::parse("g-7").unwrap()),
            Binding::DutyOfficer(DepartmentId::parse("police-jw").unwrap()),
            Binding::DepartmentHead(DepartmentId::parse("police-jw").unwrap()),
            Binding::Supervisor,
            Binding::Admin,
        ];
        for (i, binding) in bindings.into_iter().enumerate() {
            let new = user(&format!("user{i}"), binding.clone());
            let created = store
                .directory()
                .create_user(new.clone(), T0)
                .await
                .unwrap();
            assert_eq!(created.binding, binding);
            assert!(!created.disabled);
            let found = store
                .directory()
                .find_credentials(&new.username)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(found.user, created);
            assert_eq!(found.password_hash, new.password_hash);
            assert_eq!(store.directory().get_user(&new.id).await.unwrap(), created);
        }
        let nobody = store
            .directory()
            .find_credentials(&Username::parse("nobody").unwrap())
            .await
            .unwrap();
        assert!(nobody.is_none());
    }

    pub(super) async fn users_bound_to_missing_units_are_refused_as_not_found(
        store: &Store,
        _: Backend,
    ) {
        let to_grid = store
            .directory()
            .create_user(
                user(
                    "worker1",
                    Binding::GridWorker(GridId::parse("g-x").unwrap()),
                ),
                T0,
            )
            .await;
        assert!(matches!(
            to_grid,
            Err(StorageError::NotFound { entity: "grid" })
        ));
        let to_dept = store
            .directory()
            .create_user(
                user(
                    "officer1",
                    Binding::DutyOfficer(DepartmentId::parse("d-x").unwrap()),
                ),
                T0,
            )
            .await;
        assert!(matches!(
            to_dept,
            Err(StorageError::NotFound {
                entity: "department"
            })
        ));
        assert!(
            store
                .directory()
                .list_users(None, 10)
                .await
                .unwrap()
                .is_empty(),
            "nothing half-written"
        );
    }

    pub(super) async fn usernames_are_unique(store: &Store, _: Backend) {
        store
            .directory()
            .create_user(user("wang.li", Binding::Supervisor), T0)
            .await
            .unwrap();
        let again = store
            .directory()
            .create_user(user("wang.li", Binding::Admin), T0)
            .await;
        assert!(matches!(
            again,
            Err(StorageError::AlreadyExists { entity: "user" })
        ));
    }

    pub(super) async fn users_list_in_pages_in_creation_order(store: &Store, _: Backend) {
        let mut created = Vec::new();
        for i in 0..5 {
            let new = user(&format!("u{i:02}"), Binding::Supervisor);
            created.push(new.id);
            store.directory().create_user(new, T0).await.unwrap();
        }
        let first = store.directory().list_users(None, 3).await.unwrap();
        let rest = store
            .directory()
            .list_users(Some(&first[2].id), 3)
            .await
            .unwrap();
        let listed: Vec<UserId> = first.iter().chain(&rest).map(|u| u.id).collect();
        assert_eq!(listed, created);
    }

    pub(super) async fn users_are_read_in_batches_by_id(store: &Store, _: Backend) {
        let mut created = Vec::new();
        for i in 0..3 {
            let new = user(&format!("batch{i}"), Binding::Supervisor);
            created.push(store.directory().create_user(new, T0).await.unwrap());
        }
        let missing = UserId::generate();
        let asked = [created[2].id, missing, created[0].id, created[2].id];
        let mut found = store.directory().users_by_ids(&asked).await.unwrap();
        found.sort_by_key(|u| u.id);
        assert_eq!(found, vec![created[0].clone(), created[2].clone()]);
        assert!(
            store
                .directory()
                .users_by_ids(&[])
                .await
                .unwrap()
                .is_empty()
        );
    }

    pub(super) async fn a_refresh_token_rotates_exactly_once(store: &Store, _: Backend) {
        let owner = store
            .directory()
            .create_user(user("rotator", Binding::Supervisor), T0)
            .await
            .unwrap();
        store
            .directory()
            .insert_refresh_token(token("a1", "fam", owner.id))
            .await
            .unwrap();
        assert!(
            store
                .directory()
                .rotate_refresh_token("a1", token("a2", "fam", owner.id))
                .await
                .unwrap()
        );
        assert!(
            !store
                .directory()
                .rotate_refresh_token("a1", token("a3", "fam", owner.id))
                .await
                .unwrap(),
            "a used token cannot rotate again"
        );
        assert!(
            store
                .directory()
                .find_refresh_token("a3")
                .await
                .unwrap()
                .is_none(),
            "the loser wrote nothing"
        );
        let old = store
            .directory()
            .find_refresh_token("a1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(old.used_at, Some(T0));
        let new = store
            .directory()
            .find_refresh_token("a2")
            .await
            .unwrap()
            .unwrap();
        assert_eq!((new.used_at, new.revoked_at), (None, None));
        assert_eq!(new.user_id, owner.id);
    }

    pub(super) async fn revoking_a_family_revokes_every_token_in_it(store: &Store, _: Backend) {
        let owner = store
            .directory()
            .create_user(user("fam", Binding::Supervisor), T0)
            .await
            .unwrap();
        store
            .directory()
            .insert_refresh_token(token("f1", "fam-a", owner.id))
            .await
            .unwrap();
        store
            .directory()
            .rotate_refresh_token("f1", token("f2", "fam-a", owner.id))
            .await
            .unwrap();
        store
            .directory()
            .insert_refresh_token(token("g1", "fam-b", owner.id))
            .await
            .unwrap();
        let later = T0.saturating_add(Duration::from_secs(5));
        assert_eq!(
            store
                .directory()
                .revoke_refresh_family("fam-a", later)
                .await
                .unwrap(),
            2
        );
        assert_eq!(
            store
                .directory()
                .revoke_refresh_family("fam-a", later)
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            store
                .directory()
                .find_refresh_token("f2")
                .await
                .unwrap()
                .unwrap()
                .revoked_at,
            Some(later)
        );
        assert_eq!(
            store
                .directory()
                .find_refresh_token("g1")
                .await
                .unwrap()
                .unwrap()
                .revoked_at,
            None
        );
        assert!(
            !store
                .directory()
                .rotate_refresh_token("f2", token("f3", "fam-a", owner.id))
                .await
                .unwrap()
        );
    }

    pub(super) async fn disabling_a_user_revokes_their_sessions_in_the_same_change(
        store: &Store,
        _: Backend,
    ) {
        let owner = store
            .directory()
            .create_user(user("leaver", Binding::Supervisor), T0)
            .await
            .unwrap();
        store
            .directory()
            .insert_refresh_token(token("s1", "fam-s", owner.id))
            .await
            .unwrap();
        let patch = UserPatch {
            disabled: Some(true),
            revoke_sessions: true,
            ..UserPatch::default()
        };
        let updated = store
            .directory()
            .update_user(&owner.id, patch, T0)
            .await
            .unwrap();
        assert!(updated.disabled);
        assert_eq!(
            store
                .directory()
                .find_refresh_token("s1")
                .await
                .unwrap()
                .unwrap()
                .revoked_at,
            Some(T0)
        );
        let missing = store
            .directory()
            .update_user(&UserId::generate(), UserPatch::default(), T0)
            .await;
        assert!(matches!(
            missing,
            Err(StorageError::NotFound { entity: "user" })
        ));
    }

    pub(super) async fn the_first_signing_key_stored_wins(store: &Store, _: Backend) {
        let first = store
            .directory()
            .ensure_signing_key("k", "first".to_owned(), T0)
            .await
            .unwrap();
        let second = store
            .directory()
            .ensure_signing_key("k", "second".to_owned(), T0)
            .await
            .unwrap();
        assert_eq!((first.as_str(), second.as_str()), ("first", "first"));
    }

    fn import(kind: BoundaryKind, geojson: &str, grids: Vec<NewGrid>) -> NewBoundaryImport {
        NewBoundaryImport {
            kind,
            geojson: geojson.to_owned(),
            feature_count: 1,
            importer: None,
            grids,
        }
    }

    pub(super) async fn boundary_imports_form_generations_that_carry_the_other_kind_forward(
        store: &Store,
        _: Backend,
    ) {
        assert_eq!(store.boundaries().current_boundaries().await.unwrap(), None);
        let g1 = store
            .boundaries()
            .import_boundaries(import(BoundaryKind::Grids, "grids-1", vec![]), T0)
            .await
            .unwrap();
        let j2 = store
            .boundaries()
            .import_boundaries(import(BoundaryKind::Jurisdictions, "juris-2", vec![]), T0)
            .await
            .unwrap();
        let g3 = store
            .boundaries()
            .import_boundaries(import(BoundaryKind::Grids, "grids-3", vec![]), T0)
            .await
            .unwrap();
        assert_eq!((g1.grids_from, g1.jurisdictions_from), (Some(g1.id), None));
        assert_eq!(
            (j2.grids_from, j2.jurisdictions_from),
            (Some(g1.id), Some(j2.id))
        );
        assert_eq!(
            (g3.grids_from, g3.jurisdictions_from),
            (Some(g3.id), Some(j2.id))
        );
        assert!(g1.id < j2.id && j2.id < g3.id);
        let current = store
            .boundaries()
            .current_boundaries()
            .await
            .unwrap()
            .unwrap();
        assert_eq!(current.generation, g3.id);
        assert_eq!(current.grids.as_deref(), Some("grids-3"));
        assert_eq!(current.jurisdictions.as_deref(), Some("juris-2"));
        let listed = store
            .boundaries()
            .list_boundary_generations(None, 2)
            .await
            .unwrap();
        assert_eq!(
            listed.iter().map(|g| g.id).collect::<Vec<_>>(),
            [g3.id, j2.id]
        );
        let older = store
            .boundaries()
            .list_boundary_generations(Some(j2.id), 2)
            .await
            .unwrap();
        assert_eq!(older.iter().map(|g| g.id).collect::<Vec<_>>(), [g1.id]);
        assert_eq!(older[0].kind, BoundaryKind::Grids);
    }

    pub(super) async fn a_grid_import_creates_and_renames_grids(store: &Store, _: Backend) {
        store
            .boundaries()
            .import_boundaries(
                import(BoundaryKind::Grids, "{}", vec![grid("g-1"), grid("g-2")]),
                T0,
            )
            .await
            .unwrap();
        let mut renamed = grid("g-1");
        renamed.display_name = DisplayName::parse("新名字").unwrap();
        store
            .boundaries()
            .import_boundaries(import(BoundaryKind::Grids, "{}", vec![renamed]), T0)
            .await
            .unwrap();
        let g1 = store
            .directory()
            .get_grid(&GridId::parse("g-1").unwrap())
            .await
            .unwrap();
        assert_eq!(g1.display_name.as_str(), "新名字");
        assert!(
            store
                .directory()
                .get_grid(&GridId::parse("g-2").unwrap())
                .await
                .is_ok()
        );
    }

    pub(super) async fn catalogue_versions_replace_each_other_whole(store: &Store, _: Backend) {
        assert_eq!(store.boundaries().current_catalogue().await.unwrap(), None);
        let rule = |id: &str, assists: &[&str]| CategoryRule {
            id: CategoryId::parse(id).unwrap(),
            display_name: format!("类别 {id}"),
            lead: DepartmentType::parse("police").unwrap(),
            assists: assists
                .iter()
                .map(|a| DepartmentType::parse(a).unwrap())
                .collect(),
            default_grade: RiskGrade::B,
        };
        let first = vec![
            rule("b-cat", &["housing", "street_office"]),
            rule("a-cat", &[]),
        ];
        let v1 = store
            .boundaries()
            .import_catalogue(&first, T0)
            .await
            .unwrap();
        let v2 = store
            .boundaries()
            .import_catalogue(&[rule("c-cat", &[])], T0)
            .await
            .unwrap();
        assert!(v2 > v1);
        let (version, rules) = store
            .boundaries()
            .current_catalogue()
            .await
            .unwrap()
            .unwrap();
        assert_eq!(version, v2);
        assert_eq!(rules, vec![rule("c-cat", &[])]);
        let duplicate = store
            .boundaries()
            .import_catalogue(&[rule("d", &[]), rule("d", &[])], T0)
            .await;
        assert!(duplicate.is_err());
        let (version, _) = store
            .boundaries()
            .current_catalogue()
            .await
            .unwrap()
            .unwrap();
        assert_eq!(version, v2, "a failed import leaves the catalogue in force");
    }

    /// Concurrent creates share one commit: a fresh id is created once, a repeat within the batch is a replay or a conflict, and a row the database refuses fails alone.
    pub(super) async fn reports_filed_together_are_each_answered_on_their_own(
        store: &Store,
        _: Backend,
    ) {
        store
            .directory()
            .insert_grids(&[grid("g-7")], T0)
            .await
            .unwrap();
        let author = store
            .directory()
            .create_user(
                user("worker", Binding::GridWorker(GridId::parse("g-7").unwrap())),
                T0,
            )
            .await
            .unwrap();
        let new = |id: ReportId, author: UserId, hash: &str| {
            (
                author,
                NewReport {
                    id,
                    category: CategoryId::parse("noise").unwrap(),
                    description: "施工噪音扰民".to_owned(),
                    location: Position {
                        point: GeoPoint::new(39.9087, 116.4605).unwrap(),
                        system: CoordinateSystem::Gcj02,
                        accuracy_m: 8.0,
                    },
                    observed_at: T0,
                    risk_grade: None,
                    parties: Vec::new(),
                    attachments: Vec::new(),
                    request_hash: hash.to_owned(),
                },
            )
        };
        let fresh: Vec<ReportId> = (0..40).map(|_| ReportId::generate()).collect();
        let twice = ReportId::generate();
        let orphan = ReportId::generate();
        let mut filings = Vec::new();
        for id in &fresh {
            filings.push(new(*id, author.id, "a"));
        }
        // The same id three times in flight: once with a different payload.
        filings.push(new(twice, author.id, "a"));
        filings.push(new(twice, author.id, "a"));
        filings.push(new(twice, author.id, "b"));
        // An author the database does not know: its foreign key fails.
        filings.push(new(orphan, UserId::generate(), "a"));
        let pending: Vec<_> = filings
            .into_iter()
            .map(|(author, filing)| {
                let store = store.clone();
                let grid = Some(GridId::parse("g-7").unwrap());
                tokio::spawn(async move { store.reports().create(author, grid, filing, T0).await })
            })
            .collect();
        let mut answers = Vec::with_capacity(pending.len());
        for task in pending {
            answers.push(task.await.expect("filing task"));
        }

        let mut created = 0;
        let mut replayed = 0;
        let mut conflicts = 0;
        for (i, answer) in answers.iter().enumerate() {
            match answer {
                Ok(CreateOutcome::Created(record)) => {
                    created += 1;
                    assert_eq!(record.version, 1);
                }
                Ok(CreateOutcome::Replayed(record)) => {
                    replayed += 1;
                    assert_eq!(record.id, twice);
                }
                Ok(CreateOutcome::Conflict) => conflicts += 1,
                Err(err) => {
                    assert_eq!(i, answers.len() - 1, "only the orphan fails: {err}");
                    assert!(
                        matches!(err, StorageError::NotFound { entity: "user" }),
                        "{err:?}"
                    );
                }
            }
        }
        // Whichever of the three `twice` filings came first created it; "b" conflicts unless it came first.
        assert_eq!(created, fresh.len() + 1);
        assert_eq!(replayed + conflicts, 2);
        assert!(conflicts >= 1);
        for id in fresh.iter().chain([&twice]) {
            let stored = store.reports().get(ReportKey::Report(*id)).await.unwrap();
            assert_eq!(stored.version, 1);
            let timeline = store.timeline().of_report(id).await.unwrap();
            assert_eq!(timeline.len(), 1, "one Reported event for {id}");
        }
        assert!(matches!(
            store.reports().get(ReportKey::Report(orphan)).await,
            Err(StorageError::NotFound { entity: "report" })
        ));
    }

    pub(super) async fn a_shipped_calendar_year_is_stored_and_recounted_once_and_an_admins_year_replaces(
        store: &Store,
        _: Backend,
    ) {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};

        let recounts = Arc::new(AtomicUsize::new(0));
        let put = |body: &str, write| {
            let recounts = recounts.clone();
            store.time_limits().put_calendar_year_recounting(
                2027,
                body.to_owned(),
                write,
                T0,
                move |records| {
                    recounts.fetch_add(1, Ordering::SeqCst);
                    assert!(
                        records.is_empty(),
                        "no case has a provisional deadline here"
                    );
                    Ok::<_, std::convert::Infallible>(Vec::new())
                },
            )
        };
        // Without a provisional deadline there is nothing to lock and nothing to recount.
        assert!(matches!(put("shipped", YearWrite::IfMissing).await, Ok(0)));
        assert_eq!(
            store.time_limits().calendar_years().await.unwrap(),
            [(2027, "shipped".to_owned())]
        );
        // Shipped again (another replica, a restart): the stored year is kept.
        let again: Result<usize, UpdateError<std::convert::Infallible>> =
            put("shipped again", YearWrite::IfMissing).await;
        assert!(matches!(again, Ok(0)));
        assert_eq!(
            store.time_limits().calendar_years().await.unwrap(),
            [(2027, "shipped".to_owned())]
        );
        // An admin's year replaces it.
        assert!(matches!(put("admin", YearWrite::Replace).await, Ok(0)));
        assert_eq!(
            store.time_limits().calendar_years().await.unwrap(),
            [(2027, "admin".to_owned())]
        );
        assert_eq!(recounts.load(Ordering::SeqCst), 0);
    }

    pub(super) async fn login_failures_are_counted_once_each_in_their_window_and_locks_only_grow(
        store: &Store,
        _backend: Backend,
    ) {
        let t0 = Timestamp::from_unix_millis(1_772_413_200_000);
        let at = |minutes: i64| Timestamp::from_unix_millis(t0.as_unix_millis() + minutes * 60_000);
        let logins = store.logins();
        let keys = ["user:wang.li".to_owned(), "addr:10.0.0.7".to_owned()];
        assert_eq!(logins.locked_until(&keys, t0).await.unwrap(), None);
        let never = Timestamp::from_unix_millis(i64::MIN);
        // Concurrent failures each count.
        let counted = futures_counted(store, "user:wang.li", t0, never, 8).await;
        assert_eq!(counted, (1..=8).collect::<Vec<u32>>());
        // A window that starts after the first failure starts the count again.
        assert_eq!(
            logins
                .count_failure("addr:10.0.0.7", t0, never)
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            logins
                .count_failure("addr:10.0.0.7", at(20), at(5))
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            logins
                .count_failure("addr:10.0.0.7", at(21), at(6))
                .await
                .unwrap(),
            2
        );
        logins.lock("user:wang.li", at(30)).await.unwrap();
        // A shorter lock does not shorten a longer one.
        logins.lock("user:wang.li", at(10)).await.unwrap();
        assert_eq!(logins.locked_until(&keys, t0).await.unwrap(), Some(at(30)));
        logins.lock("addr:10.0.0.7", at(45)).await.unwrap();
        assert_eq!(logins.locked_until(&keys, t0).await.unwrap(), Some(at(45)));
        assert_eq!(logins.locked_until(&keys, at(45)).await.unwrap(), None);
        assert!(logins.clear("user:wang.li").await.unwrap());
        assert!(!logins.clear("user:wang.li").await.unwrap());
        // A key is forgotten once it is not locked and has been quiet long enough.
        assert_eq!(
            logins.prune(at(44), at(22)).await.unwrap(),
            0,
            "still locked"
        );
        assert_eq!(
            logins.prune(at(46), at(21)).await.unwrap(),
            0,
            "failed too lately"
        );
        assert_eq!(logins.prune(at(46), at(22)).await.unwrap(), 1);
        assert_eq!(
            logins
                .count_failure("addr:10.0.0.7", at(47), never)
                .await
                .unwrap(),
            1
        );
        assert_eq!(logins.locked_until(&keys[..1], t0).await.unwrap(), None);
    }

    /// Counts `n` failures under `key` at once; answers the counts they got, sorted.
    async fn futures_counted(
        store: &Store,
        key: &str,
        now: Timestamp,
        window_start: Timestamp,
        n: usize,
    ) -> Vec<u32> {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..n {
            let (store, key) = (store.clone(), key.to_owned());
            tasks.spawn(async move {
                store
                    .logins()
                    .count_failure(&key, now, window_start)
                    .await
                    .unwrap()
            });
        }
        let mut counted = tasks.join_all().await;
        counted.sort_unstable();
        counted
    }

    pub(super) async fn blob_chunks_append_over_unacknowledged_bytes_seal_once_and_read_by_offset(
        store: &Store,
        _backend: Backend,
    ) {
        let blobs = store.blobs();
        blobs.append("up-1", 0, b"abc".to_vec()).await.unwrap();
        blobs.append("up-1", 3, b"dXX".to_vec()).await.unwrap();
        // The last chunk was never acknowledged: writing at its offset replaces it.
        blobs.append("up-1", 3, b"def".to_vec()).await.unwrap();
        blobs.append("up-1", 6, b"g".to_vec()).await.unwrap();
        let chunks = blobs.upload_chunks("up-1", 0, 10).await.unwrap();
        assert_eq!(
            chunks,
            [
                (0, b"abc".to_vec()),
                (3, b"def".to_vec()),
                (6, b"g".to_vec())
            ]
        );
        assert_eq!(
            blobs.upload_chunks("up-1", 1, 1).await.unwrap(),
            [(3, b"def".to_vec())]
        );
        blobs.seal("up-1", "d1").await.unwrap();
        assert!(blobs.upload_chunks("up-1", 0, 10).await.unwrap().is_empty());
        assert_eq!(
            blobs.blob_chunk("d1", 4, false).await.unwrap(),
            Some((3, b"def".to_vec()))
        );
        assert_eq!(
            blobs.blob_chunk("d1", 3, true).await.unwrap(),
            Some((6, b"g".to_vec()))
        );
        assert_eq!(blobs.blob_chunk("d1", 6, true).await.unwrap(), None);
        // The same bytes sealed again keep the file stored first.
        blobs.append("up-2", 0, b"abcdefg".to_vec()).await.unwrap();
        blobs.seal("up-2", "d1").await.unwrap();
        assert_eq!(
            blobs.blob_chunk("d1", 0, false).await.unwrap(),
            Some((0, b"abc".to_vec()))
        );
        assert!(blobs.upload_chunks("up-2", 0, 10).await.unwrap().is_empty());
        blobs.append("up-3", 0, b"x".to_vec()).await.unwrap();
        blobs.discard("up-3").await.unwrap();
        assert!(blobs.upload_chunks("up-3", 0, 10).await.unwrap().is_empty());
        assert_eq!(blobs.blob_chunk("missing", 0, false).await.unwrap(), None);
    }

    pub(super) async fn reveals_list_newest_first_by_user_subject_and_time_and_prune_by_age(
        store: &Store,
        _backend: Backend,
    ) {
        use gridwhistle_server::model::{NewReveal, RevealFilter};
        let at = |minutes: i64| Timestamp::from_unix_millis(T0.as_unix_millis() + minutes * 60_000);
        let (officer, supervisor) = (UserId::generate(), UserId::generate());
        let case = format!("cases/{}", ReportId::generate());
        let entry = format!("ledgerEntries/{}", ReportId::generate());
        let reveal = |user: UserId, subject: &str, minutes: i64| NewReveal {
            user,
            subject: subject.to_owned(),
            method: "/gridwhistle.v1.CaseService/GetCase".to_owned(),
            request_id: format!("request-{minutes}"),
            at: at(minutes),
        };
        let reveals = store.reveals();
        // One answer's reveals are stored together; a listing answers them newest first.
        reveals
            .record(&[reveal(officer, &case, 1), reveal(officer, &entry, 1)])
            .await
            .unwrap();
        reveals
            .record(&[reveal(supervisor, &case, 2)])
            .await
            .unwrap();
        reveals.record(&[reveal(officer, &case, 3)]).await.unwrap();
        let everything = reveals
            .list(&RevealFilter::default(), None, 10)
            .await
            .unwrap();
        assert_eq!(everything.len(), 4);
        assert_eq!(everything[0].reveal, reveal(officer, &case, 3));
        assert_eq!(everything[1].reveal, reveal(supervisor, &case, 2));
        let mut first_answer: Vec<_> = everything[2..].iter().map(|r| r.reveal.clone()).collect();
        first_answer.sort_by(|a, b| a.subject.cmp(&b.subject));
        assert_eq!(
            first_answer,
            [reveal(officer, &case, 1), reveal(officer, &entry, 1)]
        );
        // Pages go on after the last id seen.
        let page = reveals
            .list(&RevealFilter::default(), Some(&everything[1].id), 10)
            .await
            .unwrap();
        assert_eq!(page, everything[2..]);
        // Each filter narrows.
        let by = |filter: RevealFilter| async move {
            reveals
                .list(&filter, None, 10)
                .await
                .unwrap()
                .into_iter()
                .map(|r| (r.reveal.user, r.reveal.subject, r.reveal.at))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            by(RevealFilter {
                user: Some(supervisor),
                ..RevealFilter::default()
            })
            .await,
            [(supervisor, case.clone(), at(2))]
        );
        assert_eq!(
            by(RevealFilter {
                subject: Some(entry.clone()),
                ..RevealFilter::default()
            })
            .await,
            [(officer, entry.clone(), at(1))]
        );
        assert_eq!(
            by(RevealFilter {
                user: Some(officer),
                subject: Some(case.clone()),
                since: Some(at(2)),
                before: Some(at(4)),
            })
            .await,
            [(officer, case.clone(), at(3))]
        );
        // Pruning deletes what was revealed before the time given, and nothing after.
        assert_eq!(reveals.prune(at(2)).await.unwrap(), 2);
        assert_eq!(reveals.prune(at(2)).await.unwrap(), 0);
        let left = reveals
            .list(&RevealFilter::default(), None, 10)
            .await
            .unwrap();
        assert_eq!(left, everything[..2]);
    }
}
