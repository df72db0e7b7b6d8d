//! The case queue's `filter` and `order_by`, a subset of Google AIP-160 and AIP-132: conditions `field op value` joined by `AND`, parsed into a [`CaseQuery`] at the edge.

use std::str::FromStr as _;
use std::time::Duration;

use gridwhistle_domain::{
    CaseState, CategoryId, DepartmentId, GridId, RiskGrade, Timestamp, WhistleKind,
};

use crate::model::{CaseOrder, CaseQuery, DegreeRange};

/// The fields a filter may name, for error messages.
const FIELDS: &str = "state, department, street, grid, category, risk_grade, whistle_kind, \
                      whistle_time, due_time, overdue, due_within, latitude, longitude";

/// A parsed filter: the query, and the conditions relative to the time of the call.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct CaseFilter {
    pub query: CaseQuery,
    /// Only cases whose due time has passed.
    pub overdue: bool,
    /// Only cases due from now until now plus this.
    pub due_within: Option<Duration>,
}

impl CaseFilter {
    /// The query with the conditions relative to `now` applied.
    pub(crate) fn at(mut self, now: Timestamp) -> CaseQuery {
        if self.overdue {
            self.query.due.until_at_most(now);
        }
        if let Some(within) = self.due_within {
            self.query.due.from_at_least(now);
            self.query.due.until_at_most(now.saturating_add(within));
        }
        self.query
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

/// Splits a filter into words, operators and quoted strings (`\"` and `\\` escape inside quotes).
fn tokens(text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' {
            chars.next();
            let mut value = String::new();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => value.extend(chars.next()),
                    Some(c) => value.push(c),
                    None => return Err("has a string without its closing quote".to_owned()),
                }
            }
            // Quoted values keep a marker so that `"AND"` is a value, not the conjunction.
            out.push(format!("\"{value}"));
        } else if matches!(c, '<' | '>' | '=' | '!' | ':') {
            chars.next();
            let mut op = c.to_string();
            if chars.peek() == Some(&'=') {
                chars.next();
                op.push('=');
            }
            out.push(op);
        } else {
            let mut word = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() || matches!(c, '<' | '>' | '=' | '!' | ':' | '"') {
                    break;
                }
                word.push(c);
                chars.next();
            }
            out.push(word);
        }
    }
    Ok(out)
}

fn op(token: &str) -> Result<Op, String> {
    match token {
        "=" => Ok(Op::Eq),
        "<" => Ok(Op::Lt),
        "<=" => Ok(Op::Le),
        ">" => Ok(Op::Gt),
        ">=" => Ok(Op::Ge),
        other => Err(format!(
            "{other:?} is not an operator this filter takes (=, <, <=, >, >=)"
        )),
    }
}

/// The value of a token: a quoted string without its marker, or the bare word.
fn value(token: &str) -> &str {
    token.strip_prefix('"').unwrap_or(token)
}

fn named<'a>(value: &'a str, collection: &str) -> Result<&'a str, String> {
    value
        .strip_prefix(collection)
        .and_then(|v| v.strip_prefix('/'))
        .ok_or_else(|| format!("{value:?} must be {collection}/{{id}}"))
}

fn word_enum<T: Copy>(
    value: &str,
    prefix: &str,
    all: &[T],
    text: fn(T) -> &'static str,
) -> Result<T, String> {
    let bare = value.strip_prefix(prefix).unwrap_or(value);
    all.iter()
        .copied()
        .find(|v| text(*v).eq_ignore_ascii_case(bare))
        .ok_or_else(|| {
            format!(
                "{value:?} is not one of {}",
                all.iter()
                    .map(|v| text(*v).to_ascii_uppercase())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
}

fn time(value: &str) -> Result<Timestamp, String> {
    let parsed = prost_types::Timestamp::from_str(value)
        .map_err(|_| format!("{value:?} is not an RFC 3339 time"))?;
    let ms = parsed
        .seconds
        .checked_mul(1000)
        .and_then(|s| s.checked_add(i64::from(parsed.nanos / 1_000_000)))
        .ok_or_else(|| format!("{value:?} is out of range"))?;
    Ok(Timestamp::from_unix_millis(ms))
}

/// Applies one comparison of a time field to its range.
fn narrow(range: &mut crate::model::TimeRange, op: Op, at: Timestamp) {
    let next = at.saturating_add(Duration::from_millis(1));
    match op {
        Op::Eq => {
            range.from_at_least(at);
            range.until_at_most(next);
        }
        Op::Lt => range.until_at_most(at),
        Op::Le => range.until_at_most(next),
        Op::Gt => range.from_at_least(next),
        Op::Ge => range.from_at_least(at),
    }
}

/// Applies one comparison of a coordinate (WGS-84 degrees, within `limit` of zero) to its span; a strict bound is the next degree value inward.
fn degrees(range: &mut DegreeRange, op: Op, value: &str, limit: f64) -> Result<(), String> {
    let at: f64 = value
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite() && v.abs() <= limit)
        .ok_or_else(|| format!("{value:?} is not a number of degrees from -{limit} to {limit}"))?;
    match op {
        Op::Eq => return Err("a coordinate takes <, <=, > or >=".to_owned()),
        Op::Lt => range.max_at_most(at.next_down()),
        Op::Le => range.max_at_most(at),
        Op::Gt => range.min_at_least(at.next_up()),
        Op::Ge => range.min_at_least(at),
    }
    Ok(())
}

/// Applies a condition relative to the time of the call.
fn relative(filter: &mut CaseFilter, field: &str, op: Op, value: &str) -> Result<(), String> {
    if op != Op::Eq {
        return Err(format!("{field} takes only ="));
    }
    if field == "overdue" {
        filter.overdue = match value {
            "true" => true,
            "false" => false,
            other => return Err(format!("overdue must be true or false, not {other:?}")),
        };
    } else {
        let within = prost_types::Duration::from_str(value)
            .ok()
            .and_then(|d| Duration::try_from(d).ok())
            .ok_or_else(|| format!("{value:?} is not a duration such as \"3600s\""))?;
        filter.due_within = Some(within);
    }
    Ok(())
}

/// Applies one condition to `filter`.
fn condition(filter: &mut CaseFilter, field: &str, op: Op, value: &str) -> Result<(), String> {
    let q = &mut filter.query;
    let equality = |op: Op| {
        if op == Op::Eq {
            Ok(())
        } else {
            Err(format!("{field} takes only ="))
        }
    };
    match field {
        "state" => {
            equality(op)?;
            q.states = vec![word_enum(
                value,
                "CASE_STATE_",
                CaseState::ALL,
                CaseState::as_str,
            )?];
        }
        "department" => {
            equality(op)?;
            q.department =
                Some(DepartmentId::parse(named(value, "departments")?).map_err(|e| e.to_string())?);
        }
        "street" => {
            equality(op)?;
            q.street = Some(value.to_owned());
        }
        "grid" => {
            equality(op)?;
            q.grid = Some(GridId::parse(named(value, "grids")?).map_err(|e| e.to_string())?);
        }
        "category" => {
            equality(op)?;
            q.category =
                Some(CategoryId::parse(named(value, "categories")?).map_err(|e| e.to_string())?);
        }
        "risk_grade" => {
            equality(op)?;
            q.risk_grade = Some(word_enum(
                value,
                "RISK_GRADE_",
                &RiskGrade::ALL,
                RiskGrade::as_str,
            )?);
        }
        "whistle_kind" => {
            equality(op)?;
            q.whistle_kind = Some(word_enum(
                value,
                "WHISTLE_KIND_",
                WhistleKind::ALL,
                WhistleKind::as_str,
            )?);
        }
        "whistle_time" => narrow(&mut q.whistled, op, time(value)?),
        "due_time" => narrow(&mut q.due, op, time(value)?),
        "overdue" | "due_within" => relative(filter, field, op, value)?,
        "latitude" => degrees(&mut q.latitude, op, value, 90.0)?,
        "longitude" => degrees(&mut q.longitude, op, value, 180.0)?,
        other => {
            return Err(format!(
                "{other:?} is not a field this filter takes ({FIELDS})"
            ));
        }
    }
    Ok(())
}

/// Parses a filter: `field op value` conditions joined by `AND`; empty lists everything.
pub(crate) fn parse_filter(text: &str) -> Result<CaseFilter, String> {
    let tokens = tokens(text)?;
    let mut filter = CaseFilter::default();
    let mut rest = tokens.as_slice();
    while !rest.is_empty() {
        let [field, operator, operand, tail @ ..] = rest else {
            return Err(format!(
                "ends in an incomplete condition; write field op value ({FIELDS})"
            ));
        };
        condition(&mut filter, field, op(operator)?, value(operand))?;
        rest = match tail {
            [] => tail,
            [and] if and == "AND" => {
                return Err(format!(
                    "ends in an incomplete condition after AND; write field op value ({FIELDS})"
                ));
            }
            [and, more @ ..] if and == "AND" => more,
            [other, ..] => {
                return Err(format!(
                    "conditions are joined by AND, not {:?}",
                    value(other)
                ));
            }
        };
    }
    Ok(filter)
}

/// Parses `order_by`: empty or `due_time` (nearest first), or `whistle_time` (oldest first); `asc` may follow.
pub(crate) fn parse_order(text: &str) -> Result<CaseOrder, String> {
    let mut words = text.split_whitespace();
    let order = match words.next() {
        None | Some("due_time") => CaseOrder::Due,
        Some("whistle_time") => CaseOrder::Whistled,
        Some(other) => {
            return Err(format!(
                "{other:?} is not an order this list takes (due_time, whistle_time)"
            ));
        }
    };
    match (words.next(), words.next()) {
        (None | Some("asc"), None) => Ok(order),
        _ => Err("takes one field, optionally followed by asc".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_supervisors_filters_parse_into_one_query() {
        let f = parse_filter(
            r#"state = OPEN AND risk_grade = A AND overdue = true AND department = "departments/police-01" AND whistle_time >= "2026-03-01T00:00:00+08:00" AND whistle_time < "2026-04-01T00:00:00+08:00""#,
        )
        .unwrap();
        assert_eq!(f.query.states, [CaseState::Open]);
        assert_eq!(f.query.risk_grade, Some(RiskGrade::A));
        assert!(f.overdue);
        assert_eq!(
            f.query.department,
            Some(DepartmentId::parse("police-01").unwrap())
        );
        let march = Timestamp::from_unix_millis(1_772_294_400_000);
        assert_eq!(f.query.whistled.from, Some(march));
        let now = Timestamp::from_unix_millis(1_800_000_000_000);
        let q = f.at(now);
        assert_eq!(q.due.until, Some(now));
        let street =
            parse_filter(r#"street = "建外街道" AND state = CASE_STATE_AWAITING_SUPERVISOR"#)
                .unwrap();
        assert_eq!(street.query.street.as_deref(), Some("建外街道"));
        assert_eq!(street.query.states, [CaseState::AwaitingSupervisor]);
        let soon = parse_filter(r#"due_within = "3600s""#).unwrap().at(now);
        assert_eq!(soon.due.from, Some(now));
        assert_eq!(
            soon.due.until,
            Some(now.saturating_add(Duration::from_secs(3600)))
        );
        assert_eq!(parse_filter("").unwrap(), CaseFilter::default());
        let map = parse_filter("latitude >= 39.9 AND latitude < 39.95 AND longitude > 116.4")
            .unwrap()
            .query;
        assert_eq!(map.latitude.min, Some(39.9));
        assert_eq!(map.latitude.max, Some(39.95_f64.next_down()));
        assert_eq!(map.longitude.min, Some(116.4_f64.next_up()));
        assert_eq!(map.longitude.max, None);
    }

    #[test]
    fn anything_else_is_refused_with_what_went_wrong() {
        for (text, says) in [
            ("colour = red", "not a field"),
            ("state = PINK", "is not one of"),
            ("state > OPEN", "takes only ="),
            ("risk_grade = A OR risk_grade = B", "joined by AND"),
            ("state = OPEN AND", "incomplete"),
            (r#"due_time < "yesterday""#, "RFC 3339"),
            (r#"street = "unclosed"#, "closing quote"),
            ("grid = g-1", "grids/{id}"),
            ("state != OPEN", "not an operator"),
            ("latitude = 39.9", "takes <, <=, > or >="),
            ("longitude < 181", "degrees from -180 to 180"),
            ("latitude > NaN", "degrees from -90 to 90"),
        ] {
            let err = parse_filter(text).unwrap_err();
            assert!(err.contains(says), "{text}: {err}");
        }
        assert_eq!(parse_order("whistle_time asc"), Ok(CaseOrder::Whistled));
        assert_eq!(parse_order(""), Ok(CaseOrder::Due));
        assert!(parse_order("due_time desc").is_err());
        assert!(parse_order("priority").is_err());
    }
}
