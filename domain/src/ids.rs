//! Identifiers of users, departments and grids; their constructors are the only way in.

use std::fmt;

use uuid::Uuid;

/// Why a string is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {max} characters")]
    TooLong { max: usize },
    #[error("must use only lower-case letters, digits and '-', starting with a letter or digit")]
    BadSlug,
    #[error("must be a UUID")]
    BadUuid,
}

const SLUG_MAX: usize = 63;

/// Checks a lower-case slug such as `police-jianwai` or `g-0103-07`.
fn check_slug(value: &str) -> Result<(), IdError> {
    if value.is_empty() {
        return Err(IdError::Empty);
    }
    if value.len() > SLUG_MAX {
        return Err(IdError::TooLong { max: SLUG_MAX });
    }
    let mut chars = value.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if first_ok && rest_ok {
        Ok(())
    } else {
        Err(IdError::BadSlug)
    }
}

macro_rules! slug_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// Parses an admin-chosen slug.
            pub fn parse(value: &str) -> Result<Self, IdError> {
                check_slug(value)?;
                Ok(Self(value.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

slug_id!(
    /// A department (部门), named by a slug chosen when it is created.
    DepartmentId
);
slug_id!(
    /// A grid (网格), named by a slug that stays stable across boundary generations.
    GridId
);
slug_id!(
    /// A report category of the dispatch catalogue, such as `illegal-construction` (违法建设).
    CategoryId
);

/// A user, named by a server-generated UUIDv7.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UserId(Uuid);

impl UserId {
    /// A new time-ordered id.
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }

    pub fn parse(value: &str) -> Result<Self, IdError> {
        if value.is_empty() {
            return Err(IdError::Empty);
        }
        Uuid::try_parse(value)
            .map(Self)
            .map_err(|_| IdError::BadUuid)
    }

    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.as_hyphenated().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_accept_lower_case_digits_and_inner_hyphens() {
        assert_eq!(
            DepartmentId::parse("police-jianwai").map(|d| d.to_string()),
            Ok("police-jianwai".to_owned())
        );
        assert!(GridId::parse("0103-07").is_ok());
    }

    #[test]
    fn slugs_refuse_empty_long_upper_case_and_leading_hyphens() {
        assert_eq!(DepartmentId::parse(""), Err(IdError::Empty));
        assert_eq!(
            DepartmentId::parse(&"a".repeat(64)),
            Err(IdError::TooLong { max: 63 })
        );
        assert_eq!(DepartmentId::parse("Police"), Err(IdError::BadSlug));
        assert_eq!(GridId::parse("-grid"), Err(IdError::BadSlug));
        assert_eq!(GridId::parse("grid/1"), Err(IdError::BadSlug));
    }

    #[test]
    fn user_ids_round_trip_through_their_text_form() {
        let id = UserId::generate();
        assert_eq!(UserId::parse(&id.to_string()), Ok(id));
        assert_eq!(UserId::parse("not-a-uuid"), Err(IdError::BadUuid));
    }
}
