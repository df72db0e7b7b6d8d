//! Risk grades: they select the time-limit profile, the escalation ladder and how loud pushes are.

use std::fmt;
use std::str::FromStr;

/// 特别重大 (A, red), 重大 (B, yellow), 一般 (C, blue).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RiskGrade {
    A,
    B,
    C,
}

impl RiskGrade {
    pub const ALL: [RiskGrade; 3] = [RiskGrade::A, RiskGrade::B, RiskGrade::C];

    /// The stable text form used in storage and files: `A`, `B` or `C`.
    pub const fn as_str(self) -> &'static str {
        match self {
            RiskGrade::A => "A",
            RiskGrade::B => "B",
            RiskGrade::C => "C",
        }
    }
}

impl fmt::Display for RiskGrade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text is not one of the three grades.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not A, B or C")]
pub struct UnknownGrade(pub String);

impl FromStr for RiskGrade {
    type Err = UnknownGrade;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        RiskGrade::ALL
            .into_iter()
            .find(|grade| grade.as_str() == value)
            .ok_or_else(|| UnknownGrade(value.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_grade_round_trips_through_its_text_form() {
        for grade in RiskGrade::ALL {
            assert_eq!(grade.as_str().parse::<RiskGrade>(), Ok(grade));
        }
        assert_eq!("a".parse::<RiskGrade>(), Err(UnknownGrade("a".to_owned())));
    }
}
