//! Risk grades: they select the time-limit profile, the escalation ladder and how loud pushes are.

/// 特别重大 (A, red), 重大 (B, yellow), 一般 (C, blue).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RiskGrade {
    A,
    B,
    C,
}
