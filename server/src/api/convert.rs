//! Hand-written conversions at the edge between prost types and domain types, naming the failing field.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gridwhistle_domain::{Role, Timestamp};
use gridwhistle_proto::v1;
use tonic::Request;

use super::error::{ApiError, FieldViolation};
use crate::auth::VerifiedAccess;

/// The caller the auth interceptor attached; absent only if a service was mounted without it.
pub(crate) fn caller<T>(request: &Request<T>) -> Result<&VerifiedAccess, ApiError> {
    request
        .extensions()
        .get::<VerifiedAccess>()
        .ok_or(ApiError::Unauthenticated)
}

pub(crate) fn timestamp(t: Timestamp) -> prost_types::Timestamp {
    let millis = t.as_unix_millis();
    prost_types::Timestamp {
        seconds: millis.div_euclid(1000),
        // The remainder lies in 0..1000, so the cast is exact and the product below 10^9.
        nanos: millis.rem_euclid(1000) as i32 * 1_000_000,
    }
}

pub(crate) fn role_to_proto(role: Role) -> v1::Role {
    match role {
        Role::GridWorker => v1::Role::GridWorker,
        Role::DutyOfficer => v1::Role::DutyOfficer,
        Role::DepartmentHead => v1::Role::DepartmentHead,
        Role::Supervisor => v1::Role::Supervisor,
        Role::Admin => v1::Role::Admin,
        Role::DistrictLeader => v1::Role::DistrictLeader,
    }
}

pub(crate) fn role_from_proto(value: i32) -> Result<Role, &'static str> {
    match v1::Role::try_from(value) {
        Ok(v1::Role::GridWorker) => Ok(Role::GridWorker),
        Ok(v1::Role::DutyOfficer) => Ok(Role::DutyOfficer),
        Ok(v1::Role::DepartmentHead) => Ok(Role::DepartmentHead),
        Ok(v1::Role::Supervisor) => Ok(Role::Supervisor),
        Ok(v1::Role::Admin) => Ok(Role::Admin),
        Ok(v1::Role::DistrictLeader) => Ok(Role::DistrictLeader),
        Ok(v1::Role::Unspecified) => Err("must be specified"),
        Err(_) => Err("is not a known role"),
    }
}

/// Strips `collection/` from a resource name such as `users/0190…`.
pub(crate) fn resource_id<'a>(value: &'a str, collection: &str) -> Result<&'a str, String> {
    value
        .strip_prefix(collection)
        .and_then(|rest| rest.strip_prefix('/'))
        .filter(|id| !id.is_empty() && !id.contains('/'))
        .ok_or_else(|| format!("must be a resource name of the form {collection}/{{id}}"))
}

/// The SHA-256 of a request's idempotent part, to tell a retry (the same bytes: prost encodes a message deterministically) from a reuse of its id.
pub(crate) fn request_hash(message: &impl prost::Message) -> String {
    use sha2::Digest as _;
    crate::attachments::hex(&sha2::Sha256::digest(message.encode_to_vec()))
}

/// Parses a request whose only field to check is `field`, naming it when it is invalid.
pub(crate) fn only_field<T, E: ToString>(field: &str, parsed: Result<T, E>) -> Result<T, ApiError> {
    parsed.map_err(|err| ApiError::field(field, err))
}

/// Collects every field violation of a request so the client learns of all of them at once.
#[derive(Debug, Default)]
pub(crate) struct Violations(Vec<FieldViolation>);

impl Violations {
    /// Keeps the value, or records why `field` is invalid.
    pub(crate) fn check<T, E: ToString>(&mut self, field: &str, parsed: Result<T, E>) -> Option<T> {
        match parsed {
            Ok(value) => Some(value),
            Err(err) => {
                self.0.push(FieldViolation::new(field, err));
                None
            }
        }
    }

    /// Parses each of `names` with `parse`, naming `{field}[i]` when one is invalid, repeats an earlier one or is among `taken`; `what` names the kind of thing named.
    pub(crate) fn distinct<T: PartialEq, E: ToString>(
        &mut self,
        field: &str,
        names: &[String],
        taken: &[T],
        what: &str,
        parse: impl Fn(&str) -> Result<T, E>,
    ) -> Vec<T> {
        let mut parsed = Vec::with_capacity(names.len());
        for (i, name) in names.iter().enumerate() {
            let field = format!("{field}[{i}]");
            if let Some(value) = self.check(&field, parse(name)) {
                if parsed.contains(&value) || taken.contains(&value) {
                    self.add(&field, format!("names a {what} twice"));
                } else {
                    parsed.push(value);
                }
            }
        }
        parsed
    }

    pub(crate) fn add(&mut self, field: &str, description: impl ToString) {
        self.0.push(FieldViolation::new(field, description));
    }

    pub(crate) fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::InvalidArgument(self.0))
        }
    }
}

pub(crate) const DEFAULT_PAGE_SIZE: u64 = 50;
pub(crate) const MAX_PAGE_SIZE: u64 = 500;

/// A page request: how many items, and the key of the last item already seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PageRequest {
    pub(crate) size: u64,
    pub(crate) after: Option<String>,
}

impl PageRequest {
    pub(crate) fn parse(page_size: i32, page_token: &str) -> Result<Self, ApiError> {
        let mut violations = Violations::default();
        let size = match u64::try_from(page_size) {
            Ok(0) => DEFAULT_PAGE_SIZE,
            Ok(size) => size.min(MAX_PAGE_SIZE),
            Err(_) => {
                violations.add("page_size", "must not be negative");
                DEFAULT_PAGE_SIZE
            }
        };
        let after = if page_token.is_empty() {
            None
        } else {
            violations.check("page_token", decode_page_token(page_token))
        };
        violations.finish()?;
        Ok(Self { size, after })
    }

    /// The token for the page after `items`, or empty when this was the last page.
    pub(crate) fn next_token<T>(&self, items: &[T], key: impl Fn(&T) -> String) -> String {
        match items.last() {
            Some(last) if items.len() as u64 >= self.size => encode_page_token(&key(last)),
            _ => String::new(),
        }
    }
}

/// Parses the `{a}.{b}` pair of integers that cursors and positional page tokens are written as.
pub(crate) fn number_pair(value: &str) -> Option<(i64, i64)> {
    let (a, b) = value.split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

const PAGE_TOKEN_PREFIX: &str = "v1:";

fn encode_page_token(last_key: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{PAGE_TOKEN_PREFIX}{last_key}"))
}

fn decode_page_token(token: &str) -> Result<String, &'static str> {
    let bytes = URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| "is not a token this server issued")?;
    String::from_utf8(bytes)
        .ok()
        .and_then(|text| text.strip_prefix(PAGE_TOKEN_PREFIX).map(str::to_owned))
        .ok_or("is not a token this server issued")
}

/// A value for an integer field of a message; one that does not fit is a defect of ours (storage and validation bound every such value), answered as `INTERNAL` naming the field, never clipped.
pub(crate) fn fits<T, V>(field: &'static str, value: V) -> Result<T, ApiError>
where
    V: TryInto<T> + Copy + std::fmt::Display,
{
    value.try_into().map_err(|_| {
        ApiError::Internal(format!("{field} value {value} does not fit its message field").into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_keep_millisecond_precision_before_and_after_the_epoch() {
        let t = timestamp(Timestamp::from_unix_millis(1_700_000_000_123));
        assert_eq!((t.seconds, t.nanos), (1_700_000_000, 123_000_000));
        let t = timestamp(Timestamp::from_unix_millis(-1));
        assert_eq!((t.seconds, t.nanos), (-1, 999_000_000));
    }

    #[test]
    fn resource_names_must_name_one_object_of_the_collection() {
        assert_eq!(resource_id("users/abc", "users"), Ok("abc"));
        assert!(resource_id("grids/abc", "users").is_err());
        assert!(resource_id("users/", "users").is_err());
        assert!(resource_id("users/a/b", "users").is_err());
        assert!(resource_id("usersabc", "users").is_err());
    }

    #[test]
    fn page_requests_clamp_sizes_and_refuse_foreign_tokens() {
        assert_eq!(
            PageRequest::parse(0, "").unwrap(),
            PageRequest {
                size: DEFAULT_PAGE_SIZE,
                after: None
            }
        );
        assert_eq!(PageRequest::parse(10_000, "").unwrap().size, MAX_PAGE_SIZE);
        let page = PageRequest::parse(2, "").unwrap();
        let token = page.next_token(&["a", "b"], |s| (*s).to_owned());
        assert_eq!(
            PageRequest::parse(2, &token).unwrap().after.as_deref(),
            Some("b")
        );
        assert_eq!(page.next_token(&["a"], |s| (*s).to_owned()), "");
        assert!(matches!(
            PageRequest::parse(-1, "bm9wZQ"),
            Err(ApiError::InvalidArgument(v)) if v.len() == 2
        ));
    }
}
