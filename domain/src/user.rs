//! Users: login names, display names, passwords, roles and the unit each role is bound to.

use std::fmt;
use std::str::FromStr;

use crate::ids::{DepartmentId, GridId};

/// Why a user field is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserFieldError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at least {min} characters")]
    TooShort { min: usize },
    #[error("must be at most {max} characters")]
    TooLong { max: usize },
    #[error("must use only lower-case letters, digits, '.', '_' and '-'")]
    BadUsernameCharacters,
    #[error("must not contain control characters")]
    ControlCharacters,
    #[error("must use only lower-case letters, digits, '_' and '-', starting with a letter")]
    BadTypeCode,
}

fn check_length(value: &str, min: usize, max: usize) -> Result<(), UserFieldError> {
    let count = value.chars().count();
    if count == 0 {
        Err(UserFieldError::Empty)
    } else if count < min {
        Err(UserFieldError::TooShort { min })
    } else if count > max {
        Err(UserFieldError::TooLong { max })
    } else {
        Ok(())
    }
}

/// A login name such as `wang.li` or `13800000000`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Username(String);

impl Username {
    pub fn parse(value: &str) -> Result<Self, UserFieldError> {
        check_length(value, 3, 64)?;
        let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c);
        if !value.chars().all(allowed) {
            return Err(UserFieldError::BadUsernameCharacters);
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A human name for display, such as 王丽 or 建外派出所.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(value: &str) -> Result<Self, UserFieldError> {
        let trimmed = value.trim();
        check_length(trimmed, 1, 100)?;
        if trimmed.chars().any(char::is_control) {
            return Err(UserFieldError::ControlCharacters);
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A plaintext password on its way to the hasher; it never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Checks the length policy: 8 to 128 characters, the upper bound keeping hashing cheap to refuse.
    pub fn parse(value: &str) -> Result<Self, UserFieldError> {
        check_length(value, 8, 128)?;
        Ok(Self(value.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// A department type code of the dispatch catalogue, such as `police` (公安) or `street_office` (街道).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DepartmentType(String);

impl DepartmentType {
    pub fn parse(value: &str) -> Result<Self, UserFieldError> {
        check_length(value, 1, 32)?;
        let mut chars = value.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
        let rest_ok =
            chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if first_ok && rest_ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(UserFieldError::BadTypeCode)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a user does in the system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// 网格员: reports from one grid.
    GridWorker,
    /// 值班员: works one department's cases.
    DutyOfficer,
    /// Head of one department: the ladder's second step.
    DepartmentHead,
    /// 督办: district-wide oversight.
    Supervisor,
    /// Loads reference data and users.
    Admin,
    /// 区领导: a district leader who personally owns ledger entries (包案) and is the top rung of their ladders.
    DistrictLeader,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::GridWorker,
        Role::DutyOfficer,
        Role::DepartmentHead,
        Role::Supervisor,
        Role::Admin,
        Role::DistrictLeader,
    ];

    /// The stable text form used in storage, tokens and the command line.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::GridWorker => "grid_worker",
            Role::DutyOfficer => "duty_officer",
            Role::DepartmentHead => "department_head",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
            Role::DistrictLeader => "district_leader",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text is not one of the roles.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == value)
            .ok_or_else(|| UnknownRole(value.to_owned()))
    }
}

/// Why a role and a unit do not fit together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindingError {
    #[error("a grid worker must be bound to a grid")]
    GridRequired,
    #[error("only grid workers are bound to a grid")]
    GridNotAllowed,
    #[error("a {0} must be bound to a department")]
    DepartmentRequired(Role),
    #[error("only duty officers and department heads are bound to a department")]
    DepartmentNotAllowed,
}

/// The unit a user acts for, consistent with the user's role by construction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Binding {
    GridWorker(GridId),
    DutyOfficer(DepartmentId),
    DepartmentHead(DepartmentId),
    Supervisor,
    Admin,
    DistrictLeader,
}

impl Binding {
    pub fn new(
        role: Role,
        grid: Option<GridId>,
        department: Option<DepartmentId>,
    ) -> Result<Self, BindingError> {
        match (role, grid, department) {
            (Role::GridWorker, Some(grid), None) => Ok(Binding::GridWorker(grid)),
            (Role::GridWorker, None, _) => Err(BindingError::GridRequired),
            (_, Some(_), _) => Err(BindingError::GridNotAllowed),
            (Role::DutyOfficer, None, Some(dept)) => Ok(Binding::DutyOfficer(dept)),
            (Role::DepartmentHead, None, Some(dept)) => Ok(Binding::DepartmentHead(dept)),
            (Role::DutyOfficer | Role::DepartmentHead, None, None) => {
                Err(BindingError::DepartmentRequired(role))
            }
            (Role::Supervisor, None, None) => Ok(Binding::Supervisor),
            (Role::Admin, None, None) => Ok(Binding::Admin),
            (Role::DistrictLeader, None, None) => Ok(Binding::DistrictLeader),
            (Role::Supervisor | Role::Admin | Role::DistrictLeader, None, Some(_)) => {
                Err(BindingError::DepartmentNotAllowed)
            }
        }
    }

    pub fn role(&self) -> Role {
        match self {
            Binding::GridWorker(_) => Role::GridWorker,
            Binding::DutyOfficer(_) => Role::DutyOfficer,
            Binding::DepartmentHead(_) => Role::DepartmentHead,
            Binding::Supervisor => Role::Supervisor,
            Binding::Admin => Role::Admin,
            Binding::DistrictLeader => Role::DistrictLeader,
        }
    }

    pub fn grid(&self) -> Option<&GridId> {
        match self {
            Binding::GridWorker(grid) => Some(grid),
            _ => None,
        }
    }

    pub fn department(&self) -> Option<&DepartmentId> {
        match self {
            Binding::DutyOfficer(dept) | Binding::DepartmentHead(dept) => Some(dept),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid() -> GridId {
        GridId::parse("g-001").unwrap()
    }

    fn dept() -> DepartmentId {
        DepartmentId::parse("police-jianwai").unwrap()
    }

    #[test]
    fn every_role_round_trips_through_its_text_form() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert_eq!("root".parse::<Role>(), Err(UnknownRole("root".to_owned())));
    }

    #[test]
    fn each_role_takes_exactly_its_own_kind_of_unit() {
        let cases = [
            (
                Role::GridWorker,
                Some(grid()),
                None,
                Ok(Binding::GridWorker(grid())),
            ),
            (
                Role::GridWorker,
                None,
                None,
                Err(BindingError::GridRequired),
            ),
            (
                Role::GridWorker,
                None,
                Some(dept()),
                Err(BindingError::GridRequired),
            ),
            (
                Role::DutyOfficer,
                None,
                Some(dept()),
                Ok(Binding::DutyOfficer(dept())),
            ),
            (
                Role::DepartmentHead,
                None,
                Some(dept()),
                Ok(Binding::DepartmentHead(dept())),
            ),
            (
                Role::DutyOfficer,
                None,
                None,
                Err(BindingError::DepartmentRequired(Role::DutyOfficer)),
            ),
            (
                Role::DutyOfficer,
                Some(grid()),
                Some(dept()),
                Err(BindingError::GridNotAllowed),
            ),
            (Role::Supervisor, None, None, Ok(Binding::Supervisor)),
            (
                Role::Supervisor,
                None,
                Some(dept()),
                Err(BindingError::DepartmentNotAllowed),
            ),
            (Role::Admin, None, None, Ok(Binding::Admin)),
            (
                Role::Admin,
                Some(grid()),
                None,
                Err(BindingError::GridNotAllowed),
            ),
        ];
        for (role, grid, dept, expected) in cases {
            let binding = Binding::new(role, grid, dept);
            assert_eq!(binding, expected, "{role}");
            if let Ok(binding) = binding {
                assert_eq!(binding.role(), role);
            }
        }
    }

    #[test]
    fn usernames_are_lower_case_and_bounded() {
        assert!(Username::parse("wang.li_02").is_ok());
        assert_eq!(
            Username::parse("ab"),
            Err(UserFieldError::TooShort { min: 3 })
        );
        assert_eq!(
            Username::parse("Wang"),
            Err(UserFieldError::BadUsernameCharacters)
        );
        assert_eq!(Username::parse(""), Err(UserFieldError::Empty));
    }

    #[test]
    fn display_names_are_trimmed_and_free_of_control_characters() {
        assert_eq!(DisplayName::parse("  王丽 ").unwrap().as_str(), "王丽");
        assert_eq!(DisplayName::parse("   "), Err(UserFieldError::Empty));
        assert_eq!(
            DisplayName::parse("a\u{7}b"),
            Err(UserFieldError::ControlCharacters)
        );
    }

    #[test]
    fn passwords_never_print_and_are_bounded() {
        let password = Password::parse("correct horse").unwrap();
        assert_eq!(format!("{password:?}"), "Password(***)");
        assert_eq!(
            Password::parse("short"),
            Err(UserFieldError::TooShort { min: 8 })
        );
        assert_eq!(
            Password::parse(&"x".repeat(129)),
            Err(UserFieldError::TooLong { max: 128 })
        );
    }

    #[test]
    fn department_types_are_codes() {
        assert!(DepartmentType::parse("street_office").is_ok());
        assert_eq!(
            DepartmentType::parse("1police"),
            Err(UserFieldError::BadTypeCode)
        );
    }
}
