//! Reports, cases and their people: the states of the closed loop, whistle kinds, timeline events and the parties' personal data.

use std::fmt;
use std::str::FromStr;

/// Where a report stands, as its grid worker sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReportState {
    /// Filed, neither settled nor whistled.
    Open,
    /// Settled on the spot by the grid worker (初步调解).
    ResolvedOnSite,
    /// Whistled; departments work on the case.
    Whistled,
    /// The lead department completed; the grid worker verifies.
    AwaitingVerification,
    /// Verified and closed.
    Closed,
}

/// Where a whistled case stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CaseState {
    Open,
    AwaitingVerification,
    Closed,
    /// Nobody is left to lead it (unroutable, or every department returned it): a supervisor decides.
    AwaitingSupervisor,
}

/// One summoned department's progress on a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AssignmentState {
    Summoned,
    ReportedIn,
    Contacted,
    Completed,
    Returned,
    /// Taken off the case by a supervisor's reassignment.
    Withdrawn,
}

impl AssignmentState {
    /// Whether the department is still on the case and not finished with it.
    pub const fn is_active(self) -> bool {
        matches!(
            self,
            AssignmentState::Summoned | AssignmentState::ReportedIn | AssignmentState::Contacted
        )
    }
}

/// Whether a department leads the work (主办) or assists (协办).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AssignmentRole {
    Lead,
    Assist,
}

/// Whistle kinds of Beijing practice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WhistleKind {
    /// 日常哨.
    Routine,
    /// 攻坚哨.
    HardCase,
    /// 应急哨.
    Emergency,
}

/// The stages a time limit has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeadlineStage {
    ReportIn,
    Contact,
    Finish,
    LetterReply,
    /// A step of a ledger entry's plan (一案一策): its due time is the step's, the policy gives its reminders and ladder.
    LedgerStep,
}

/// What a deadline is about: a department's share of a case (its stages and letters' replies), or a step of a ledger entry's plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeadlineSubject {
    Case(crate::ReportId),
    LedgerStep {
        entry: crate::LedgerEntryId,
        step: u32,
    },
}

/// State of a department's request for more time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExtensionState {
    Pending,
    Approved,
    Refused,
}

/// What a timeline entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    Reported,
    ResolvedOnSite,
    Whistled,
    ReportedIn,
    Contacted,
    Progress,
    Returned,
    Rerouted,
    ExtensionRequested,
    ExtensionDecided,
    Completed,
    Verified,
    Rejected,
    Reminder,
    Escalated,
    Reassigned,
    SupervisionLetter,
    /// The department answered a supervision letter about the case.
    LetterAnswered,
    /// A deadline counted on a provisional calendar year moved when that year's official calendar was loaded.
    DeadlineRecounted,
    /// A supervisor raised or lowered the case's risk grade; its running deadlines follow the new grade's policy from then on.
    Regraded,
}

/// A stored enum text that names no variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a known {kind}")]
pub struct UnknownVariant {
    pub kind: &'static str,
    pub text: String,
}

/// Gives an enum one stable snake_case text form for storage, and its parser.
macro_rules! text_enum {
    ($ty:ident, $kind:literal { $($variant:ident => $text:literal,)* }) => {
        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$variant,)*];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $text,)*
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = UnknownVariant;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                match text {
                    $($text => Ok($ty::$variant),)*
                    _ => Err(UnknownVariant { kind: $kind, text: text.to_owned() }),
                }
            }
        }
    };
}

text_enum!(ReportState, "report state" {
    Open => "open",
    ResolvedOnSite => "resolved_on_site",
    Whistled => "whistled",
    AwaitingVerification => "awaiting_verification",
    Closed => "closed",
});
text_enum!(CaseState, "case state" {
    Open => "open",
    AwaitingVerification => "awaiting_verification",
    Closed => "closed",
    AwaitingSupervisor => "awaiting_supervisor",
});
text_enum!(AssignmentState, "assignment state" {
    Summoned => "summoned",
    ReportedIn => "reported_in",
    Contacted => "contacted",
    Completed => "completed",
    Returned => "returned",
    Withdrawn => "withdrawn",
});
text_enum!(AssignmentRole, "assignment role" {
    Lead => "lead",
    Assist => "assist",
});
text_enum!(WhistleKind, "whistle kind" {
    Routine => "routine",
    HardCase => "hard_case",
    Emergency => "emergency",
});
text_enum!(DeadlineStage, "deadline stage" {
    ReportIn => "report_in",
    Contact => "contact",
    Finish => "finish",
    LetterReply => "letter_reply",
    LedgerStep => "ledger_step",
});
text_enum!(ExtensionState, "extension state" {
    Pending => "pending",
    Approved => "approved",
    Refused => "refused",
});
text_enum!(EventKind, "event kind" {
    Reported => "reported",
    ResolvedOnSite => "resolved_on_site",
    Whistled => "whistled",
    ReportedIn => "reported_in",
    Contacted => "contacted",
    Progress => "progress",
    Returned => "returned",
    Rerouted => "rerouted",
    ExtensionRequested => "extension_requested",
    ExtensionDecided => "extension_decided",
    Completed => "completed",
    Verified => "verified",
    Rejected => "rejected",
    Reminder => "reminder",
    Escalated => "escalated",
    Reassigned => "reassigned",
    SupervisionLetter => "supervision_letter",
    LetterAnswered => "letter_answered",
    DeadlineRecounted => "deadline_recounted",
    Regraded => "regraded",
});

/// Free text a user typed, trimmed, non-empty when required, and within a length in characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {max} characters")]
    TooLong { max: usize },
    #[error("must not contain control characters")]
    Control,
}

/// Checks free text: trims it, refuses control characters other than line breaks and tabs, and caps its length.
pub fn check_text(value: &str, max_chars: usize, required: bool) -> Result<String, TextError> {
    let trimmed = value.trim();
    if trimmed.is_empty() && required {
        return Err(TextError::Empty);
    }
    if trimmed.chars().count() > max_chars {
        return Err(TextError::TooLong { max: max_chars });
    }
    if trimmed
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(TextError::Control);
    }
    Ok(trimmed.to_owned())
}

/// Why a party's details are refused; never carries the value itself, which is personal data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartyError {
    #[error(
        "must be a mainland mobile number (11 digits from 13 to 19) or a landline such as 010-12345678"
    )]
    Phone,
    #[error("must be an 18-character resident identity number with a valid check digit")]
    IdNumber,
}

/// A mainland phone number, mobile or landline, kept as the digits and at most one hyphen.
#[derive(Clone, PartialEq, Eq)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub fn parse(value: &str) -> Result<Self, PartyError> {
        let compact: String = value.chars().filter(|c| *c != ' ').collect();
        let local = compact
            .strip_prefix("+86")
            .or_else(|| compact.strip_prefix("0086"))
            .unwrap_or(&compact);
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let bytes = local.as_bytes();
        let mobile = local.len() == 11 && digits(local) && bytes[0] == b'1' && bytes[1] >= b'3';
        let landline = match local.split_once('-') {
            Some((area, number)) => {
                (3..=4).contains(&area.len())
                    && area.starts_with('0')
                    && digits(area)
                    && (7..=8).contains(&number.len())
                    && digits(number)
            }
            None => local.starts_with('0') && (10..=12).contains(&local.len()) && digits(local),
        };
        if mobile || landline {
            Ok(Self(local.to_owned()))
        } else {
            Err(PartyError::Phone)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Keeps the first three and last four characters: `138****5678`.
    pub fn masked(&self) -> String {
        mask_middle(&self.0, 3, 4)
    }
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneNumber({})", self.masked())
    }
}

/// A resident identity card number (GB 11643), checked by its ISO 7064 check digit.
#[derive(Clone, PartialEq, Eq)]
pub struct IdNumber(String);

impl IdNumber {
    pub fn parse(value: &str) -> Result<Self, PartyError> {
        const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
        const CHECK: &[u8; 11] = b"10X98765432";
        let upper = value.trim().to_ascii_uppercase();
        let bytes = upper.as_bytes();
        if bytes.len() != 18 || !bytes[..17].iter().all(u8::is_ascii_digit) {
            return Err(PartyError::IdNumber);
        }
        let sum: u32 = bytes[..17]
            .iter()
            .zip(WEIGHTS)
            .map(|(b, w)| u32::from(b - b'0') * w)
            .sum();
        if CHECK[(sum % 11) as usize] == bytes[17] {
            Ok(Self(upper))
        } else {
            Err(PartyError::IdNumber)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Keeps the region code and the last four characters: `110101********123X`.
    pub fn masked(&self) -> String {
        mask_middle(&self.0, 6, 4)
    }
}

impl fmt::Debug for IdNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdNumber({})", self.masked())
    }
}

/// Keeps the first character of a name: `张**`.
pub fn mask_name(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => std::iter::once(first).chain(chars.map(|_| '*')).collect(),
        None => String::new(),
    }
}

fn mask_middle(value: &str, keep_head: usize, keep_tail: usize) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() <= keep_head + keep_tail {
        return "*".repeat(chars.len());
    }
    let tail_from = chars.len() - keep_tail;
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if i < keep_head || i >= tail_from {
                *c
            } else {
                '*'
            }
        })
        .collect()
}

/// A person involved in a report: personal data, so its `Debug` form is masked and it never goes into logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Party {
    pub name: String,
    pub phone: Option<PhoneNumber>,
    pub id_number: Option<IdNumber>,
    /// "tenant", "site manager": not personal data.
    pub relation: String,
}

impl Party {
    /// The same party with name, phone and identity number masked, for roles that do not need them.
    pub fn masked(&self) -> MaskedParty {
        MaskedParty {
            name: mask_name(&self.name),
            phone: self.phone.as_ref().map(PhoneNumber::masked),
            id_number: self.id_number.as_ref().map(IdNumber::masked),
            relation: self.relation.clone(),
        }
    }
}

impl fmt::Debug for Party {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.masked().fmt(f)
    }
}

/// A party as shown to a caller who may not see the personal data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaskedParty {
    pub name: String,
    pub phone: Option<String>,
    pub id_number: Option<String>,
    pub relation: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_round_trips_through_its_stored_text() {
        for state in ReportState::ALL {
            assert_eq!(state.as_str().parse::<ReportState>(), Ok(*state));
        }
        for kind in EventKind::ALL {
            assert_eq!(kind.as_str().parse::<EventKind>(), Ok(*kind));
        }
        for state in AssignmentState::ALL {
            assert_eq!(state.as_str().parse::<AssignmentState>(), Ok(*state));
        }
        assert_eq!(
            "lost".parse::<CaseState>(),
            Err(UnknownVariant {
                kind: "case state",
                text: "lost".to_owned()
            })
        );
    }

    #[test]
    fn mainland_mobiles_and_landlines_are_accepted_and_masked() {
        let mobile = PhoneNumber::parse("+86 138 0013 8000").unwrap();
        assert_eq!(mobile.as_str(), "13800138000");
        assert_eq!(mobile.masked(), "138****8000");
        assert_eq!(
            PhoneNumber::parse("010-65001234").unwrap().masked(),
            "010*****1234"
        );
        assert!(PhoneNumber::parse("02165001234").is_ok());
        for bad in ["12800138000", "1380013800", "abc", "", "010-123", "110"] {
            assert_eq!(PhoneNumber::parse(bad), Err(PartyError::Phone), "{bad}");
        }
    }

    #[test]
    fn identity_numbers_need_a_valid_check_digit() {
        // The check digit of 11010519491231002 is X under ISO 7064 MOD 11-2.
        let id = IdNumber::parse("11010519491231002x").unwrap();
        assert_eq!(id.as_str(), "11010519491231002X");
        assert_eq!(id.masked(), "110105********002X");
        assert_eq!(
            IdNumber::parse("110105194912310021"),
            Err(PartyError::IdNumber)
        );
        assert_eq!(IdNumber::parse("1101051949"), Err(PartyError::IdNumber));
    }

    #[test]
    fn a_party_prints_masked_so_a_stray_debug_log_leaks_nothing() {
        let party = Party {
            name: "张三丰".to_owned(),
            phone: Some(PhoneNumber::parse("13800138000").unwrap()),
            id_number: Some(IdNumber::parse("11010519491231002X").unwrap()),
            relation: "tenant".to_owned(),
        };
        let printed = format!("{party:?}");
        assert!(printed.contains("张**"), "{printed}");
        assert!(!printed.contains("三丰"), "{printed}");
        assert!(!printed.contains("13800138000"), "{printed}");
        assert!(!printed.contains("19491231"), "{printed}");
    }

    #[test]
    fn text_is_trimmed_capped_and_free_of_control_characters() {
        assert_eq!(check_text("  漏水 \n", 10, true), Ok("漏水".to_owned()));
        assert_eq!(check_text("   ", 10, true), Err(TextError::Empty));
        assert_eq!(check_text("", 10, false), Ok(String::new()));
        assert_eq!(
            check_text(&"字".repeat(11), 10, true),
            Err(TextError::TooLong { max: 10 })
        );
        assert_eq!(check_text("a\u{0}b", 10, true), Err(TextError::Control));
    }
}
