//! The ledger of long-standing cases (积案台账): how an entry is classified, graded and closed off, and the states of its plan's steps.

use crate::risk::RiskGrade;

/// Declares a closed set of values with their stable text forms (storage and files) and a parse that names the accepted forms.
macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $text:literal,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The stable text form used in storage.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }

            /// The value whose text form is `text`.
            pub fn parse(text: &str) -> Result<Self, String> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == text)
                    .ok_or_else(|| {
                        let names: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
                        format!("must be one of {}", names.join(", "))
                    })
            }
        }
    };
}

text_enum!(
    /// What a long-standing case is about, as districts classify their ledgers.
    Nature {
        /// 征地拆迁
        LandAndDemolition => "land_and_demolition",
        /// 劳动社保
        LabourAndSocialSecurity => "labour_and_social_security",
        /// 涉法涉诉
        LawRelated => "law_related",
        /// 城建住房 (housing, property management, construction)
        Housing => "housing",
        /// 婚姻家庭、邻里 (family and neighbour disputes)
        FamilyAndNeighbours => "family_and_neighbours",
        /// 其他
        Other => "other",
    }
);

text_enum!(
    /// How hard a case is, or how far its social impact reaches.
    Level {
        Low => "low",
        Medium => "medium",
        High => "high",
    }
);

text_enum!(
    /// Where an entry stands: open, asked to be closed off (销号) and awaiting a supervisor, or closed.
    LedgerState {
        Open => "open",
        CloseRequested => "close_requested",
        Closed => "closed",
    }
);

text_enum!(
    /// A step of an entry's plan: open, done, or dropped by a revision of the plan.
    StepState {
        Open => "open",
        Done => "done",
        Superseded => "superseded",
    }
);

text_enum!(
    /// What a ledger entry's timeline records.
    LedgerEventKind {
        Opened => "opened",
        PlanRevised => "plan_revised",
        StepCompleted => "step_completed",
        Regraded => "regraded",
        LeaderNamed => "leader_named",
        CloseRequested => "close_requested",
        CloseApproved => "close_approved",
        CloseRefused => "close_refused",
        Reopened => "reopened",
        /// A joint meeting named a new responsible unit (and plan).
        Reassigned => "reassigned",
        /// A step's reminder fired before its due time.
        Reminder => "reminder",
        /// A step was overdue and a rung of its ladder fired.
        Escalated => "escalated",
    }
);

text_enum!(
    /// Why an item is on a joint meeting's agenda.
    AgendaReason {
        /// A red (grade A) entry.
        Red => "red",
        /// An entry with a step past its due time.
        OverdueSteps => "overdue_steps",
        /// An entry whose open steps name more than one department.
        CrossDepartment => "cross_department",
        /// A case every summoned department returned.
        ReturnedByAll => "returned_by_all",
    }
);

text_enum!(
    /// 红黄蓝三色: the colour a grade is managed as.
    Colour {
        Red => "red",
        Yellow => "yellow",
        Blue => "blue",
    }
);

impl Colour {
    /// A (特别重大) is red, B (重大) yellow, C (一般) blue.
    pub const fn of(grade: RiskGrade) -> Colour {
        match grade {
            RiskGrade::A => Colour::Red,
            RiskGrade::B => Colour::Yellow,
            RiskGrade::C => Colour::Blue,
        }
    }

    pub const fn grade(self) -> RiskGrade {
        match self {
            Colour::Red => RiskGrade::A,
            Colour::Yellow => RiskGrade::B,
            Colour::Blue => RiskGrade::C,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_round_trips_through_its_text_form() {
        for n in Nature::ALL {
            assert_eq!(Nature::parse(n.as_str()), Ok(*n));
        }
        for s in LedgerEventKind::ALL {
            assert_eq!(LedgerEventKind::parse(s.as_str()), Ok(*s));
        }
        assert_eq!(
            Level::parse("huge"),
            Err("must be one of low, medium, high".to_owned())
        );
    }

    #[test]
    fn grades_and_colours_map_one_to_one() {
        for grade in RiskGrade::ALL {
            assert_eq!(Colour::of(grade).grade(), grade);
        }
        assert_eq!(Colour::of(RiskGrade::A), Colour::Red);
    }
}
