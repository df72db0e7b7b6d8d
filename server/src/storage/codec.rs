//! Stored values in and out: one error for a stored value that does not decode, naming what it belongs to, and integer conversions into columns that fail loudly instead of saturating.
//!
//! A value clipped to `i32::MAX` is a wrong answer that looks right; a conversion that does not fit is an error that says which column, so the defect is found.

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
