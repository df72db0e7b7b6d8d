//! Stored values in and out: one error for a stored value that does not decode, naming what it belongs to, and integer conversions into columns that fail loudly instead of saturating.
//!
//! A value clipped to `i32::MAX` is a wrong answer that looks right; a conversion that does not fit is an error that says which column, so the defect is found.

use gridwhistle_domain::{AttachmentId, IdNumber, Party, PhoneNumber, Timestamp};
use serde::{Deserialize, Serialize};

use super::StorageError;

/// A stored value of `entity` that does not decode.
pub(super) fn corrupt(entity: &'static str, reason: impl ToString) -> StorageError {
    StorageError::Corrupt {
        entity,
        reason: reason.to_string(),
    }
}

/// `value` for an `INTEGER` column.
pub(super) fn int(column: &'static str, value: u32) -> Result<i32, StorageError> {
    i32::try_from(value).map_err(|_| out_of_range(column, value))
}

/// `value` for a `BIGINT` column or a row limit.
pub(super) fn bigint<T>(column: &'static str, value: T) -> Result<i64, StorageError>
where
    T: TryInto<i64> + Copy + ToString,
{
    value.try_into().map_err(|_| out_of_range(column, value))
}

fn out_of_range(column: &'static str, value: impl ToString) -> StorageError {
    StorageError::OutOfRange {
        column,
        value: value.to_string(),
    }
}

#[derive(Serialize, Deserialize)]
struct PartyJson {
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id_number: Option<String>,
    #[serde(default)]
    relation: String,
}

/// Parties as stored: a JSON array, each party with its name, relation and optional phone and identity number.
pub(super) fn parties_to_json(parties: &[Party]) -> String {
    let rows: Vec<PartyJson> = parties
        .iter()
        .map(|p| PartyJson {
            name: p.name.clone(),
            phone: p.phone.as_ref().map(|v| v.as_str().to_owned()),
            id_number: p.id_number.as_ref().map(|v| v.as_str().to_owned()),
            relation: p.relation.clone(),
        })
        .collect();
    serde_json::to_string(&rows).unwrap_or_else(|_| "[]".to_owned())
}

pub(super) fn parties_from_json(text: &str) -> Result<Vec<Party>, StorageError> {
    // Errors name the field only: the stored values are personal data.
    let rows: Vec<PartyJson> =
        serde_json::from_str(text).map_err(|_| corrupt("report", "parties are not valid JSON"))?;
    rows.into_iter()
        .map(|p| {
            Ok(Party {
                name: p.name,
                phone: p
                    .phone
                    .map(|v| PhoneNumber::parse(&v))
                    .transpose()
                    .map_err(|_| corrupt("report", "a stored phone number is invalid"))?,
                id_number: p
                    .id_number
                    .map(|v| IdNumber::parse(&v))
                    .transpose()
                    .map_err(|_| corrupt("report", "a stored identity number is invalid"))?,
                relation: p.relation,
            })
        })
        .collect()
}

/// Attachment ids as stored: a JSON array of digests.
pub(super) fn ids_to_json(ids: &[AttachmentId]) -> String {
    let rows: Vec<&str> = ids.iter().map(AttachmentId::as_str).collect();
    serde_json::to_string(&rows).unwrap_or_else(|_| "[]".to_owned())
}

pub(super) fn ids_from_json(
    entity: &'static str,
    text: &str,
) -> Result<Vec<AttachmentId>, StorageError> {
    let rows: Vec<String> = serde_json::from_str(text).map_err(|e| corrupt(entity, e))?;
    rows.iter()
        .map(|r| AttachmentId::parse(r).map_err(|e| corrupt(entity, e)))
        .collect()
}

/// A stored text that names a value of `T`, or the row of `entity` is corrupt.
pub(super) fn parse<T: std::str::FromStr>(
    entity: &'static str,
    text: &str,
) -> Result<T, StorageError>
where
    T::Err: std::fmt::Display,
{
    text.parse().map_err(|e: T::Err| corrupt(entity, e))
}

/// A time for a `*_ms` column.
pub(super) fn ms(t: Timestamp) -> i64 {
    t.as_unix_millis()
}

/// A time from a `*_ms` column.
pub(super) fn ts(ms: i64) -> Timestamp {
    Timestamp::from_unix_millis(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_that_does_not_fit_its_column_is_an_error_naming_it() {
        assert_eq!(int("next_step", 7).unwrap(), 7);
        let err = int("next_step", u32::MAX).unwrap_err();
        assert_eq!(
            err.to_string(),
            "next_step value 4294967295 does not fit its column"
        );
        assert_eq!(bigint("limit", 5u64).unwrap(), 5);
        assert!(bigint("limit", u64::MAX).is_err());
        assert_eq!(bigint("limit", 7usize).unwrap(), 7);
    }
}
