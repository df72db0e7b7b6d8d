//! One conversion each way between the contract's enums and the domain's: risk grade, whistle kind, report, case and assignment states, deadline stage, assignment role, event kind, extension state, and the ledger's nature, level, colour and state.

use gridwhistle_domain::ledger::{Colour, LedgerState, Level, Nature};
use gridwhistle_domain::{
    AssignmentRole, AssignmentState, CaseState, DeadlineStage, EventKind, ExtensionState,
    ReportState, RiskGrade, WhistleKind,
};
use gridwhistle_proto::v1;

pub(crate) fn grade_from_proto(value: i32) -> Result<Option<RiskGrade>, &'static str> {
    match v1::RiskGrade::try_from(value) {
        Ok(v1::RiskGrade::Unspecified) => Ok(None),
        Ok(v1::RiskGrade::A) => Ok(Some(RiskGrade::A)),
        Ok(v1::RiskGrade::B) => Ok(Some(RiskGrade::B)),
        Ok(v1::RiskGrade::C) => Ok(Some(RiskGrade::C)),
        Err(_) => Err("is not a known risk grade"),
    }
}

/// A grade the request must name: `field` is refused when it is unspecified or unknown.
pub(crate) fn required_grade(
    v: &mut super::convert::Violations,
    field: &str,
    value: i32,
) -> Option<RiskGrade> {
    match grade_from_proto(value) {
        Ok(Some(grade)) => Some(grade),
        Ok(None) => {
            v.add(field, "is required");
            None
        }
        Err(reason) => {
            v.add(field, reason);
            None
        }
    }
}

pub(crate) fn grade_to_proto(grade: Option<RiskGrade>) -> i32 {
    match grade {
        None => v1::RiskGrade::Unspecified,
        Some(RiskGrade::A) => v1::RiskGrade::A,
        Some(RiskGrade::B) => v1::RiskGrade::B,
        Some(RiskGrade::C) => v1::RiskGrade::C,
    }
    .into()
}

pub(crate) fn whistle_kind_from_proto(value: i32) -> Result<WhistleKind, &'static str> {
    match v1::WhistleKind::try_from(value) {
        Ok(v1::WhistleKind::Routine) => Ok(WhistleKind::Routine),
        Ok(v1::WhistleKind::HardCase) => Ok(WhistleKind::HardCase),
        Ok(v1::WhistleKind::Emergency) => Ok(WhistleKind::Emergency),
        Ok(v1::WhistleKind::Unspecified) => Err("must be specified"),
        Err(_) => Err("is not a known whistle kind"),
    }
}

pub(crate) fn whistle_kind_to_proto(kind: WhistleKind) -> i32 {
    match kind {
        WhistleKind::Routine => v1::WhistleKind::Routine,
        WhistleKind::HardCase => v1::WhistleKind::HardCase,
        WhistleKind::Emergency => v1::WhistleKind::Emergency,
    }
    .into()
}

pub(crate) fn report_state_from_proto(value: i32) -> Result<Option<ReportState>, &'static str> {
    match v1::ReportState::try_from(value) {
        Ok(v1::ReportState::Unspecified) => Ok(None),
        Ok(v1::ReportState::Open) => Ok(Some(ReportState::Open)),
        Ok(v1::ReportState::ResolvedOnSite) => Ok(Some(ReportState::ResolvedOnSite)),
        Ok(v1::ReportState::Whistled) => Ok(Some(ReportState::Whistled)),
        Ok(v1::ReportState::AwaitingVerification) => Ok(Some(ReportState::AwaitingVerification)),
        Ok(v1::ReportState::Closed) => Ok(Some(ReportState::Closed)),
        Err(_) => Err("is not a known report state"),
    }
}

pub(crate) fn report_state_to_proto(state: ReportState) -> i32 {
    match state {
        ReportState::Open => v1::ReportState::Open,
        ReportState::ResolvedOnSite => v1::ReportState::ResolvedOnSite,
        ReportState::Whistled => v1::ReportState::Whistled,
        ReportState::AwaitingVerification => v1::ReportState::AwaitingVerification,
        ReportState::Closed => v1::ReportState::Closed,
    }
    .into()
}

pub(crate) fn assignment_state_from_proto(
    value: i32,
) -> Result<Option<AssignmentState>, &'static str> {
    match v1::AssignmentState::try_from(value) {
        Ok(v1::AssignmentState::Unspecified) => Ok(None),
        Ok(v1::AssignmentState::Summoned) => Ok(Some(AssignmentState::Summoned)),
        Ok(v1::AssignmentState::ReportedIn) => Ok(Some(AssignmentState::ReportedIn)),
        Ok(v1::AssignmentState::Contacted) => Ok(Some(AssignmentState::Contacted)),
        Ok(v1::AssignmentState::Completed) => Ok(Some(AssignmentState::Completed)),
        Ok(v1::AssignmentState::Returned) => Ok(Some(AssignmentState::Returned)),
        Ok(v1::AssignmentState::Withdrawn) => Ok(Some(AssignmentState::Withdrawn)),
        Err(_) => Err("is not a known assignment state"),
    }
}

pub(crate) fn assignment_state_to_proto(state: AssignmentState) -> i32 {
    match state {
        AssignmentState::Summoned => v1::AssignmentState::Summoned,
        AssignmentState::ReportedIn => v1::AssignmentState::ReportedIn,
        AssignmentState::Contacted => v1::AssignmentState::Contacted,
        AssignmentState::Completed => v1::AssignmentState::Completed,
        AssignmentState::Returned => v1::AssignmentState::Returned,
        AssignmentState::Withdrawn => v1::AssignmentState::Withdrawn,
    }
    .into()
}

pub(crate) fn stage_from_proto(value: i32) -> Result<DeadlineStage, &'static str> {
    match any_stage_from_proto(value)? {
        DeadlineStage::LetterReply => Err("a supervision letter's reply is not a case stage"),
        DeadlineStage::LedgerStep => Err("a ledger entry's step is not a case stage"),
        stage => Ok(stage),
    }
}

/// Any stage a deadline can have, supervision letters' replies included.
pub(crate) fn any_stage_from_proto(value: i32) -> Result<DeadlineStage, &'static str> {
    match v1::DeadlineStage::try_from(value) {
        Ok(v1::DeadlineStage::ReportIn) => Ok(DeadlineStage::ReportIn),
        Ok(v1::DeadlineStage::Contact) => Ok(DeadlineStage::Contact),
        Ok(v1::DeadlineStage::Finish) => Ok(DeadlineStage::Finish),
        Ok(v1::DeadlineStage::LetterReply) => Ok(DeadlineStage::LetterReply),
        Ok(v1::DeadlineStage::LedgerStep) => Ok(DeadlineStage::LedgerStep),
        Ok(v1::DeadlineStage::Unspecified) => Err("must be specified"),
        Err(_) => Err("is not a known stage"),
    }
}

pub(crate) fn stage_to_proto(stage: DeadlineStage) -> i32 {
    match stage {
        DeadlineStage::ReportIn => v1::DeadlineStage::ReportIn,
        DeadlineStage::Contact => v1::DeadlineStage::Contact,
        DeadlineStage::Finish => v1::DeadlineStage::Finish,
        DeadlineStage::LetterReply => v1::DeadlineStage::LetterReply,
        DeadlineStage::LedgerStep => v1::DeadlineStage::LedgerStep,
    }
    .into()
}

pub(crate) fn role_to_proto(role: AssignmentRole) -> i32 {
    match role {
        AssignmentRole::Lead => v1::AssignmentRole::Lead,
        AssignmentRole::Assist => v1::AssignmentRole::Assist,
    }
    .into()
}

pub(crate) fn case_state_to_proto(state: CaseState) -> i32 {
    match state {
        CaseState::Open => v1::CaseState::Open,
        CaseState::AwaitingVerification => v1::CaseState::AwaitingVerification,
        CaseState::Closed => v1::CaseState::Closed,
        CaseState::AwaitingSupervisor => v1::CaseState::AwaitingSupervisor,
    }
    .into()
}

pub(crate) fn event_kind_to_proto(kind: EventKind) -> i32 {
    use v1::CaseEventKind as K;
    match kind {
        EventKind::Reported => K::Reported,
        EventKind::ResolvedOnSite => K::ResolvedOnSite,
        EventKind::Whistled => K::Whistled,
        EventKind::ReportedIn => K::ReportedIn,
        EventKind::Contacted => K::Contacted,
        EventKind::Progress => K::Progress,
        EventKind::Returned => K::Returned,
        EventKind::Rerouted => K::Rerouted,
        EventKind::ExtensionRequested => K::ExtensionRequested,
        EventKind::ExtensionDecided => K::ExtensionDecided,
        EventKind::Completed => K::Completed,
        EventKind::Verified => K::Verified,
        EventKind::Rejected => K::Rejected,
        EventKind::Reminder => K::Reminder,
        EventKind::Escalated => K::Escalated,
        EventKind::Reassigned => K::Reassigned,
        EventKind::Regraded => K::Regraded,
        EventKind::SupervisionLetter => K::SupervisionLetter,
        EventKind::LetterAnswered => K::SupervisionLetterAnswered,
        EventKind::DeadlineRecounted => K::DeadlineRecounted,
    }
    .into()
}

pub(crate) fn extension_state_from_proto(
    value: i32,
) -> Result<Option<ExtensionState>, &'static str> {
    match v1::ExtensionState::try_from(value) {
        Ok(v1::ExtensionState::Unspecified) => Ok(None),
        Ok(v1::ExtensionState::Pending) => Ok(Some(ExtensionState::Pending)),
        Ok(v1::ExtensionState::Approved) => Ok(Some(ExtensionState::Approved)),
        Ok(v1::ExtensionState::Refused) => Ok(Some(ExtensionState::Refused)),
        Err(_) => Err("is not a known extension state"),
    }
}

pub(crate) fn extension_state_to_proto(state: ExtensionState) -> i32 {
    match state {
        ExtensionState::Pending => v1::ExtensionState::Pending,
        ExtensionState::Approved => v1::ExtensionState::Approved,
        ExtensionState::Refused => v1::ExtensionState::Refused,
    }
    .into()
}

pub(crate) fn nature_from_proto(value: i32) -> Result<Nature, &'static str> {
    use v1::LedgerNature as P;
    match P::try_from(value) {
        Ok(P::LandAndDemolition) => Ok(Nature::LandAndDemolition),
        Ok(P::LabourAndSocialSecurity) => Ok(Nature::LabourAndSocialSecurity),
        Ok(P::LawRelated) => Ok(Nature::LawRelated),
        Ok(P::Housing) => Ok(Nature::Housing),
        Ok(P::FamilyAndNeighbours) => Ok(Nature::FamilyAndNeighbours),
        Ok(P::Other) => Ok(Nature::Other),
        Ok(P::Unspecified) => Err("is required"),
        Err(_) => Err("is not a known nature"),
    }
}

pub(crate) fn nature_to_proto(n: Nature) -> i32 {
    use v1::LedgerNature as P;
    match n {
        Nature::LandAndDemolition => P::LandAndDemolition,
        Nature::LabourAndSocialSecurity => P::LabourAndSocialSecurity,
        Nature::LawRelated => P::LawRelated,
        Nature::Housing => P::Housing,
        Nature::FamilyAndNeighbours => P::FamilyAndNeighbours,
        Nature::Other => P::Other,
    }
    .into()
}

pub(crate) fn level_from_proto(value: i32) -> Result<Level, &'static str> {
    match v1::LedgerLevel::try_from(value) {
        Ok(v1::LedgerLevel::Low) => Ok(Level::Low),
        Ok(v1::LedgerLevel::Medium) => Ok(Level::Medium),
        Ok(v1::LedgerLevel::High) => Ok(Level::High),
        Ok(v1::LedgerLevel::Unspecified) => Err("is required"),
        Err(_) => Err("is not a known level"),
    }
}

pub(crate) fn level_to_proto(l: Level) -> i32 {
    match l {
        Level::Low => v1::LedgerLevel::Low,
        Level::Medium => v1::LedgerLevel::Medium,
        Level::High => v1::LedgerLevel::High,
    }
    .into()
}

/// A colour to filter by; unspecified is none.
pub(crate) fn colour_from_proto(value: i32) -> Result<Option<Colour>, &'static str> {
    match v1::LedgerColour::try_from(value) {
        Ok(v1::LedgerColour::Unspecified) => Ok(None),
        Ok(v1::LedgerColour::Red) => Ok(Some(Colour::Red)),
        Ok(v1::LedgerColour::Yellow) => Ok(Some(Colour::Yellow)),
        Ok(v1::LedgerColour::Blue) => Ok(Some(Colour::Blue)),
        Err(_) => Err("is not a known colour"),
    }
}

pub(crate) fn colour_to_proto(c: Colour) -> i32 {
    match c {
        Colour::Red => v1::LedgerColour::Red,
        Colour::Yellow => v1::LedgerColour::Yellow,
        Colour::Blue => v1::LedgerColour::Blue,
    }
    .into()
}

/// A state to filter by; unspecified is none.
pub(crate) fn state_from_proto(value: i32) -> Result<Option<LedgerState>, &'static str> {
    match v1::LedgerState::try_from(value) {
        Ok(v1::LedgerState::Unspecified) => Ok(None),
        Ok(v1::LedgerState::Open) => Ok(Some(LedgerState::Open)),
        Ok(v1::LedgerState::CloseRequested) => Ok(Some(LedgerState::CloseRequested)),
        Ok(v1::LedgerState::Closed) => Ok(Some(LedgerState::Closed)),
        Err(_) => Err("is not a known state"),
    }
}

pub(crate) fn state_to_proto(s: LedgerState) -> i32 {
    match s {
        LedgerState::Open => v1::LedgerState::Open,
        LedgerState::CloseRequested => v1::LedgerState::CloseRequested,
        LedgerState::Closed => v1::LedgerState::Closed,
    }
    .into()
}
