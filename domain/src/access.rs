//! The access policy: who may do what to which object, decided in one place as a pure function.

use crate::ids::UserId;
use crate::user::{Binding, Role};

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user_id: UserId,
    pub binding: Binding,
}

/// Something a caller wants to do, with the object it touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action<'a> {
    /// Create, read, list or change users and departments, and load reference data.
    AdministerDirectory,
    /// Read one user's own record.
    ReadUser(&'a UserId),
}

/// Why an action is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    /// The caller's role may never do this, whatever the object.
    #[error("the {role} role may not do this")]
    Forbidden { role: Role },
    /// The object is not the caller's; answered exactly like a missing object so existence cannot be probed.
    #[error("object not visible to the caller")]
    Hidden,
}

impl Actor {
    pub fn role(&self) -> Role {
        self.binding.role()
    }

    pub fn authorize(&self, action: Action<'_>) -> Result<(), AccessError> {
        let role = self.role();
        match action {
            Action::AdministerDirectory => match role {
                Role::Admin => Ok(()),
                Role::GridWorker | Role::DutyOfficer | Role::DepartmentHead | Role::Supervisor => {
                    Err(AccessError::Forbidden { role })
                }
            },
            Action::ReadUser(user) => {
                if role == Role::Admin || *user == self.user_id {
                    Ok(())
                } else {
                    Err(AccessError::Hidden)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{DepartmentId, GridId};

    fn actor(binding: Binding) -> Actor {
        Actor {
            user_id: UserId::generate(),
            binding,
        }
    }

    fn every_kind_of_actor() -> Vec<Actor> {
        let dept = DepartmentId::parse("housing").unwrap();
        vec![
            actor(Binding::GridWorker(GridId::parse("g-1").unwrap())),
            actor(Binding::DutyOfficer(dept.clone())),
            actor(Binding::DepartmentHead(dept)),
            actor(Binding::Supervisor),
            actor(Binding::Admin),
        ]
    }

    #[test]
    fn only_admins_administer_the_directory() {
        for actor in every_kind_of_actor() {
            let expected = if actor.role() == Role::Admin {
                Ok(())
            } else {
                Err(AccessError::Forbidden { role: actor.role() })
            };
            assert_eq!(actor.authorize(Action::AdministerDirectory), expected);
        }
    }

    #[test]
    fn a_user_record_is_visible_to_its_owner_and_admins_only() {
        let someone_else = UserId::generate();
        for actor in every_kind_of_actor() {
            assert_eq!(actor.authorize(Action::ReadUser(&actor.user_id)), Ok(()));
            let expected = if actor.role() == Role::Admin {
                Ok(())
            } else {
                Err(AccessError::Hidden)
            };
            assert_eq!(actor.authorize(Action::ReadUser(&someone_else)), expected);
        }
    }
}
