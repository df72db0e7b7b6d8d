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
    /// List the audit of parties' personal data shown unmasked (who saw whose, when, for which case): admins.
    ReadRevealAudit,
    /// Open an entry in the ledger of long-standing cases (积案台账), decide its closing off (销号), reopen it: supervisors.
    ManageLedger,
    /// List ledger entries, each caller seeing only the entries they may read: every role but admins.
    ListLedger,
    /// Read a ledger entry: supervisors; its leader; the staff of its responsible unit and of the departments its plan names; the grid worker who reported its case.
    ReadLedgerEntry(LedgerScope<'a>),
    /// Revise an entry's plan, change its grade, name its leader: supervisors, and the district leader who owns it.
    SteerLedgerEntry { leader: Option<&'a UserId> },
    /// Complete a step of an entry's plan: its department's staff.
    WorkLedgerStep { department: &'a DepartmentId },
    /// Ask for an entry to be closed off: its responsible unit's staff.
    RequestCloseOff { unit: &'a DepartmentId },
    /// Record a summoned interview (约谈) of a department's responsible person: supervisors.
    RecordInterview,
    /// Read the joint meetings (联席会议) and their minutes: supervisors and district leaders.
    ReadMeetings,
    /// Read the interviews of a department (`None`: of every department): supervisors, leaders and admins; a department's staff their own.
    ReadInterviews {
        department: Option<&'a DepartmentId>,
    },
}

/// Who a ledger entry concerns, as reading it is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedgerScope<'a> {
    pub unit: &'a DepartmentId,
    /// The departments of its plan's steps.
    pub departments: &'a [DepartmentId],
    pub leader: Option<&'a UserId>,
    /// The author of the report its case came from.
    pub reporter: Option<&'a UserId>,
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
        let only = |allowed: &[Role]| {
            if allowed.contains(&role) {
                Ok(())
            } else {
                Err(AccessError::Forbidden { role })
            }
        };
        match action {
            Action::AdministerDirectory | Action::RebuildFacts | Action::ReadRevealAudit => {
                only(&[Role::Admin])
            }
            Action::ReadUser(user) => {
                if role == Role::Admin || *user == self.user_id {
                    Ok(())
                } else {
                    Err(AccessError::Hidden)
                }
            }
            Action::FileReport => only(&[Role::GridWorker]),
            Action::OwnReport { author } => {
                only(&[Role::GridWorker])?;
                self.is(author)
            }
            Action::UploadAttachment => {
                only(&[Role::GridWorker, Role::DutyOfficer, Role::DepartmentHead])
            }
            Action::UseInbox => only(&[Role::DutyOfficer, Role::DepartmentHead]),
            Action::WorkCase { departments } => {
                only(&[Role::DutyOfficer, Role::DepartmentHead])?;
                self.member_of(departments)
            }
            Action::ReadCase { departments } => match role {
                Role::DutyOfficer | Role::DepartmentHead => self.member_of(departments),
                _ => only(&[Role::Supervisor]),
            },
            Action::ReadAttachments {
                author,
                departments,
            } => match role {
                Role::GridWorker => self.is(author),
                Role::DutyOfficer | Role::DepartmentHead => self.member_of(departments),
                _ => only(&[Role::Supervisor]),
            },
            Action::ReadDirectory => Ok(()),
            Action::ReadRankings => only(&[
                Role::DutyOfficer,
                Role::DepartmentHead,
                Role::Supervisor,
                Role::Admin,
                Role::DistrictLeader,
            ]),
            Action::ReadDepartmentFigures { department } => match role {
                Role::DutyOfficer | Role::DepartmentHead => {
                    self.member_of(std::slice::from_ref(department))
                }
                _ => only(&[Role::Supervisor, Role::Admin, Role::DistrictLeader]),
            },
            Action::Supervise | Action::ManageLedger | Action::RecordInterview => {
                only(&[Role::Supervisor])
            }
            Action::ReadMeetings => only(&[Role::Supervisor, Role::DistrictLeader]),
            Action::ReadInterviews { department } => match role {
                Role::DutyOfficer | Role::DepartmentHead => match department {
                    Some(d) => self.member_of(std::slice::from_ref(d)),
                    None => Err(AccessError::Hidden),
                },
                _ => only(&[Role::Supervisor, Role::Admin, Role::DistrictLeader]),
            },
            Action::ListLedger => only(&[
                Role::GridWorker,
                Role::DutyOfficer,
                Role::DepartmentHead,
                Role::Supervisor,
                Role::DistrictLeader,
            ]),
            Action::ReadLedgerEntry(entry) => match role {
                Role::GridWorker => entry
                    .reporter
                    .map_or(Err(AccessError::Hidden), |r| self.is(r)),
                Role::DutyOfficer | Role::DepartmentHead => self
                    .member_of(std::slice::from_ref(entry.unit))
                    .or_else(|_| self.member_of(entry.departments)),
                Role::DistrictLeader => entry
                    .leader
                    .map_or(Err(AccessError::Hidden), |l| self.is(l)),
                _ => only(&[Role::Supervisor]),
            },
            Action::SteerLedgerEntry { leader } => match role {
                Role::DistrictLeader => leader.map_or(Err(AccessError::Hidden), |l| self.is(l)),
                _ => only(&[Role::Supervisor]),
            },
            Action::WorkLedgerStep { department } => {
                only(&[Role::DutyOfficer, Role::DepartmentHead])?;
                self.member_of(std::slice::from_ref(department))
            }
            Action::RequestCloseOff { unit } => {
                only(&[Role::DutyOfficer, Role::DepartmentHead])?;
                self.member_of(std::slice::from_ref(unit))
            }
        }
    }

    /// Whether this caller may see parties' names, phones and identity numbers unmasked on a report.
    ///
    /// The author entered them and the summoned departments must contact them; supervisors watch deadlines and see them masked.
    pub fn sees_parties(&self, author: &UserId, departments: &[DepartmentId]) -> bool {
        match &self.binding {
            Binding::GridWorker(_) => *author == self.user_id,
            Binding::DutyOfficer(d) | Binding::DepartmentHead(d) => departments.contains(d),
            Binding::Supervisor | Binding::Admin | Binding::DistrictLeader => false,
        }
    }

    /// Whether this caller may see a ledger entry's parties unmasked: the staff of its unit and of its plan's departments, who meet them, and its leader, who owns it; everyone else sees them masked.
    pub fn sees_ledger_parties(&self, entry: LedgerScope<'_>) -> bool {
        match &self.binding {
            Binding::DutyOfficer(d) | Binding::DepartmentHead(d) => {
                entry.unit == d || entry.departments.contains(d)
            }
            Binding::DistrictLeader => entry.leader == Some(&self.user_id),
            Binding::GridWorker(_) | Binding::Supervisor | Binding::Admin => false,
        }
    }

    /// The department a duty officer or department head works for.
    pub fn department(&self) -> Option<&DepartmentId> {
        self.binding.department()
    }

    /// Whether the caller is `user`: `Hidden` otherwise.
    fn is(&self, user: &UserId) -> Result<(), AccessError> {
        if *user == self.user_id {
            Ok(())
        } else {
            Err(AccessError::Hidden)
        }
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
            actor(Binding::DistrictLeader),
        ]
    }

    #[test]
    fn only_admins_administer_the_directory_and_read_the_reveal_audit() {
        for actor in every_kind_of_actor() {
            let expected = if actor.role() == Role::Admin {
                Ok(())
            } else {
                Err(AccessError::Forbidden { role: actor.role() })
            };
            assert_eq!(actor.authorize(Action::AdministerDirectory), expected);
            assert_eq!(actor.authorize(Action::ReadRevealAudit), expected);
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
                Role::Supervisor | Role::DistrictLeader => (Ok(()), Ok(()), Ok(()), forbidden),
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
                Role::Admin | Role::DistrictLeader => {
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
                Role::Admin | Role::DistrictLeader => (
                    Err(AccessError::Forbidden { role }),
                    Err(AccessError::Forbidden { role }),
                ),
            };
            assert_eq!((mine, theirs), expected, "{role:?}");
            assert_eq!(actor.authorize(Action::ReadDirectory), Ok(()));
        }
    }

    #[test]
    fn ledger_entries_are_read_by_their_unit_plan_departments_leader_reporter_and_supervisors() {
        let housing = DepartmentId::parse("housing").unwrap();
        let police = DepartmentId::parse("police").unwrap();
        let courts = DepartmentId::parse("courts").unwrap();
        for actor in every_kind_of_actor() {
            let role = actor.role();
            let forbidden = Err(AccessError::Forbidden { role });
            let hidden = Err(AccessError::Hidden);
            let read = |unit, departments, mine: bool| {
                actor.authorize(Action::ReadLedgerEntry(LedgerScope {
                    unit,
                    departments,
                    leader: mine.then_some(&actor.user_id),
                    reporter: mine.then_some(&actor.user_id),
                }))
            };
            let as_unit = read(&housing, &[], false);
            let as_step = read(&police, std::slice::from_ref(&housing), false);
            let as_named = read(&police, &[], true);
            let stranger = read(&police, std::slice::from_ref(&courts), false);
            let steer = |mine: bool| {
                actor.authorize(Action::SteerLedgerEntry {
                    leader: mine.then_some(&actor.user_id),
                })
            };
            let expected = match role {
                Role::GridWorker => [hidden, hidden, Ok(()), hidden, forbidden, forbidden],
                Role::DutyOfficer | Role::DepartmentHead => {
                    [Ok(()), Ok(()), hidden, hidden, forbidden, forbidden]
                }
                Role::Supervisor => [Ok(()); 6],
                Role::DistrictLeader => [hidden, hidden, Ok(()), hidden, Ok(()), hidden],
                Role::Admin => [forbidden; 6],
            };
            assert_eq!(
                [
                    as_unit,
                    as_step,
                    as_named,
                    stranger,
                    steer(true),
                    steer(false)
                ],
                expected,
                "{role}"
            );
            let work = actor.authorize(Action::WorkLedgerStep {
                department: &housing,
            });
            let close = actor.authorize(Action::RequestCloseOff { unit: &police });
            let staff = matches!(role, Role::DutyOfficer | Role::DepartmentHead);
            assert_eq!(work, if staff { Ok(()) } else { forbidden }, "{role}");
            assert_eq!(close, if staff { hidden } else { forbidden }, "{role}");
            let manage = actor.authorize(Action::ManageLedger);
            assert_eq!(manage.is_ok(), role == Role::Supervisor, "{role}");
            let list = actor.authorize(Action::ListLedger);
            assert_eq!(list.is_ok(), role != Role::Admin, "{role}");
        }
    }
}
