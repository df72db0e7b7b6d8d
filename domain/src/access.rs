//! The access policy: who may do what to which object, decided in one place as a pure function.

use crate::ids::{DepartmentId, UserId};
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
    /// File a new report (grid workers).
    FileReport,
    /// Read or change a report: only its author.
    OwnReport { author: &'a UserId },
    /// Upload a photo or video for a report, progress post or completion.
    UploadAttachment,
    /// Use a department's inbox (duty officers and department heads).
    UseInbox,
    /// Act on a case as one of the departments it summoned.
    WorkCase { departments: &'a [DepartmentId] },
    /// Read a case: its departments, or any supervisor.
    ReadCase { departments: &'a [DepartmentId] },
    /// Watch the district's overdue work and escalations (督办): supervisors.
    Supervise,
    /// Read a report's or case's attachments: its author, the departments it summoned, or any supervisor.
    ReadAttachments {
        author: &'a UserId,
        departments: &'a [DepartmentId],
    },
    /// Read the directory (categories, departments, user cards, the caller's own area): every signed-in role.
    ReadDirectory,
    /// Read the district's rankings of departments, streets, grids and categories: supervisors, admins and every department's staff.
    ReadRankings,
    /// Read one department's figures, breakdowns, trend and the shares behind its shortfalls: its own staff, supervisors and admins.
    ReadDepartmentFigures { department: &'a DepartmentId },
    /// Rebuild the figures' facts from the event log: admins.
    RebuildFacts,
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
            Action::FileReport => match role {
                Role::GridWorker => Ok(()),
                Role::DutyOfficer | Role::DepartmentHead | Role::Supervisor | Role::Admin => {
                    Err(AccessError::Forbidden { role })
                }
            },
            Action::OwnReport { author } => match role {
                Role::GridWorker if *author == self.user_id => Ok(()),
                Role::GridWorker => Err(AccessError::Hidden),
                Role::DutyOfficer | Role::DepartmentHead | Role::Supervisor | Role::Admin => {
                    Err(AccessError::Forbidden { role })
                }
            },
            Action::UploadAttachment => match role {
                Role::GridWorker | Role::DutyOfficer | Role::DepartmentHead => Ok(()),
                Role::Supervisor | Role::Admin => Err(AccessError::Forbidden { role }),
            },
            Action::UseInbox => match role {
                Role::DutyOfficer | Role::DepartmentHead => Ok(()),
                Role::GridWorker | Role::Supervisor | Role::Admin => {
                    Err(AccessError::Forbidden { role })
                }
            },
            Action::WorkCase { departments } => match role {
                Role::DutyOfficer | Role::DepartmentHead => self.member_of(departments),
                Role::GridWorker | Role::Supervisor | Role::Admin => {
                    Err(AccessError::Forbidden { role })
                }
            },
            Action::ReadCase { departments } => match role {
                Role::DutyOfficer | Role::DepartmentHead => self.member_of(departments),
                Role::Supervisor => Ok(()),
                Role::GridWorker | Role::Admin => Err(AccessError::Forbidden { role }),
            },
            Action::ReadAttachments {
                author,
                departments,
            } => match role {
                Role::GridWorker if *author == self.user_id => Ok(()),
                Role::GridWorker => Err(AccessError::Hidden),
                Role::DutyOfficer | Role::DepartmentHead => self.member_of(departments),
                Role::Supervisor => Ok(()),
                Role::Admin => Err(AccessError::Forbidden { role }),
            },
            Action::ReadDirectory => Ok(()),
            Action::ReadRankings => match role {
                Role::DutyOfficer | Role::DepartmentHead | Role::Supervisor | Role::Admin => Ok(()),
                Role::GridWorker => Err(AccessError::Forbidden { role }),
            },
            Action::ReadDepartmentFigures { department } => match role {
                Role::DutyOfficer | Role::DepartmentHead => {
                    self.member_of(std::slice::from_ref(department))
                }
                Role::Supervisor | Role::Admin => Ok(()),
                Role::GridWorker => Err(AccessError::Forbidden { role }),
            },
            Action::RebuildFacts => match role {
                Role::Admin => Ok(()),
                Role::GridWorker | Role::DutyOfficer | Role::DepartmentHead | Role::Supervisor => {
                    Err(AccessError::Forbidden { role })
                }
            },
            Action::Supervise => match role {
                Role::Supervisor => Ok(()),
                Role::GridWorker | Role::DutyOfficer | Role::DepartmentHead | Role::Admin => {
                    Err(AccessError::Forbidden { role })
                }
            },
        }
    }

    /// Whether this caller may see parties' names, phones and identity numbers unmasked on a report.
    ///
    /// The author entered them and the summoned departments must contact them; supervisors watch deadlines and see them masked.
    pub fn sees_parties(&self, author: &UserId, departments: &[DepartmentId]) -> bool {
        match &self.binding {
            Binding::GridWorker(_) => *author == self.user_id,
            Binding::DutyOfficer(d) | Binding::DepartmentHead(d) => departments.contains(d),
            Binding::Supervisor | Binding::Admin => false,
        }
    }

    /// The department a duty officer or department head works for.
    pub fn department(&self) -> Option<&DepartmentId> {
        self.binding.department()
    }

    fn member_of(&self, departments: &[DepartmentId]) -> Result<(), AccessError> {
        match self.binding.department() {
            Some(d) if departments.contains(d) => Ok(()),
            _ => Err(AccessError::Hidden),
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
    fn figures_are_read_by_their_department_supervisors_and_admins_and_rebuilt_by_admins() {
        let housing = DepartmentId::parse("housing").unwrap();
        let police = DepartmentId::parse("police").unwrap();
        for actor in every_kind_of_actor() {
            let role = actor.role();
            let forbidden = Err(AccessError::Forbidden { role });
            let (own, other, rankings, rebuild) = match role {
                Role::GridWorker => (forbidden, forbidden, forbidden, forbidden),
                Role::DutyOfficer | Role::DepartmentHead => {
                    (Ok(()), Err(AccessError::Hidden), Ok(()), forbidden)
                }
                Role::Supervisor => (Ok(()), Ok(()), Ok(()), forbidden),
                Role::Admin => (Ok(()), Ok(()), Ok(()), Ok(())),
            };
            let figures = |department| Action::ReadDepartmentFigures { department };
            assert_eq!(actor.authorize(figures(&housing)), own, "{role}");
            assert_eq!(actor.authorize(figures(&police)), other, "{role}");
            assert_eq!(actor.authorize(Action::ReadRankings), rankings, "{role}");
            assert_eq!(actor.authorize(Action::RebuildFacts), rebuild, "{role}");
        }
    }

    #[test]
    fn reports_belong_to_their_author_and_cases_to_their_departments() {
        let housing = DepartmentId::parse("housing").unwrap();
        let police = DepartmentId::parse("police").unwrap();
        let stranger = UserId::generate();
        for actor in every_kind_of_actor() {
            let role = actor.role();
            let forbidden = Err(AccessError::Forbidden { role });
            let own = actor.authorize(Action::OwnReport {
                author: &actor.user_id,
            });
            let other = actor.authorize(Action::OwnReport { author: &stranger });
            let ours = actor.authorize(Action::WorkCase {
                departments: &[police.clone(), housing.clone()],
            });
            let theirs = actor.authorize(Action::WorkCase {
                departments: std::slice::from_ref(&police),
            });
            let read_theirs = actor.authorize(Action::ReadCase {
                departments: std::slice::from_ref(&police),
            });
            match role {
                Role::GridWorker => {
                    assert_eq!((own, other), (Ok(()), Err(AccessError::Hidden)));
                    assert_eq!((ours, read_theirs), (forbidden, forbidden));
                }
                Role::DutyOfficer | Role::DepartmentHead => {
                    assert_eq!((own, other), (forbidden, forbidden));
                    assert_eq!((ours, theirs), (Ok(()), Err(AccessError::Hidden)));
                    assert_eq!(read_theirs, Err(AccessError::Hidden));
                }
                Role::Supervisor => {
                    assert_eq!((own, ours), (forbidden, forbidden));
                    assert_eq!(read_theirs, Ok(()));
                }
                Role::Admin => {
                    assert_eq!((own, ours, read_theirs), (forbidden, forbidden, forbidden));
                }
            }
        }
    }

    #[test]
    fn parties_are_shown_to_the_author_and_the_summoned_departments_only() {
        let housing = DepartmentId::parse("housing").unwrap();
        for actor in every_kind_of_actor() {
            let sees = actor.sees_parties(&actor.user_id, std::slice::from_ref(&housing));
            let expected = matches!(
                actor.role(),
                Role::GridWorker | Role::DutyOfficer | Role::DepartmentHead
            );
            assert_eq!(sees, expected, "{:?}", actor.role());
            assert!(!actor.sees_parties(&UserId::generate(), &[]));
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

    #[test]
    fn attachments_are_read_by_the_author_the_summoned_departments_and_supervisors() {
        let housing = DepartmentId::parse("housing").unwrap();
        let police = DepartmentId::parse("police").unwrap();
        let stranger = UserId::generate();
        for actor in every_kind_of_actor() {
            let role = actor.role();
            let mine = actor.authorize(Action::ReadAttachments {
                author: &actor.user_id,
                departments: std::slice::from_ref(&housing),
            });
            let theirs = actor.authorize(Action::ReadAttachments {
                author: &stranger,
                departments: std::slice::from_ref(&police),
            });
            let expected = match role {
                Role::GridWorker | Role::DutyOfficer | Role::DepartmentHead => {
                    (Ok(()), Err(AccessError::Hidden))
                }
                Role::Supervisor => (Ok(()), Ok(())),
                Role::Admin => (
                    Err(AccessError::Forbidden { role }),
                    Err(AccessError::Forbidden { role }),
                ),
            };
            assert_eq!((mine, theirs), expected, "{role:?}");
            assert_eq!(actor.authorize(Action::ReadDirectory), Ok(()));
        }
    }
}
