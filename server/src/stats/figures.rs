//! Figures from counts: each a count pair and its rate, the order a ranking sorts by, and the ranking itself.

use std::time::Duration;

use gridwhistle_domain::DepartmentId;

use crate::model::{AreaCounts, ShareCounts};

/// A figure: numerator over denominator.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ratio {
    pub numerator: i64,
    pub denominator: i64,
}

impl Ratio {
    pub fn new(numerator: i64, denominator: i64) -> Self {
        Self {
            numerator,
            denominator,
        }
    }

    /// The rate, 0 when there is no denominator.
    pub fn rate(self) -> f64 {
        if self.denominator == 0 {
            0.0
        } else {
            self.numerator as f64 / self.denominator as f64
        }
    }

    fn value(self) -> Option<f64> {
        (self.denominator > 0).then(|| self.rate())
    }
}

/// One department's figures over a period, or one group of its breakdown or trend.
#[derive(Debug, Clone, PartialEq)]
pub struct DepartmentFigures {
    pub department: DepartmentId,
    pub display_name: String,
    /// The breakdown's category or grade, or the trend's month; empty in a ranking.
    pub group: String,
    /// The place in a ranking, from 1; 0 elsewhere.
    pub rank: u32,
    pub assignments: i64,
    /// 响应率.
    pub response: Ratio,
    /// 解决率.
    pub resolution: Ratio,
    /// 满意率.
    pub satisfaction: Ratio,
    pub mean_satisfaction: f64,
    /// 按期结案率.
    pub on_time_closure: Ratio,
    /// 结案率.
    pub closure: Ratio,
    /// 返工率.
    pub rework: Ratio,
    /// 延期率.
    pub extension: Ratio,
    /// 退单率.
    pub returns: Ratio,
    pub mean_working: Option<Duration>,
    pub median_working: Option<Duration>,
    pub open: i64,
    pub overdue: i64,
    pub escalations: i64,
    pub letters: i64,
}

fn duration(ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or_default())
}

impl DepartmentFigures {
    pub fn from_counts(
        department: DepartmentId,
        display_name: String,
        group: String,
        c: &ShareCounts,
    ) -> Self {
        let mean_working = c.working.mean_ms().map(duration);
        let median_working = c.working.median_ms().map(duration);
        Self {
            department,
            display_name,
            group,
            rank: 0,
            assignments: c.assignments,
            response: Ratio::new(c.reported_in_on_time, c.assignments),
            resolution: Ratio::new(c.led_accepted, c.led_with_result),
            satisfaction: Ratio::new(c.rated_satisfied, c.rated),
            mean_satisfaction: Ratio::new(c.score_sum, c.rated).rate(),
            on_time_closure: Ratio::new(c.led_due_on_time, c.led_due),
            closure: Ratio::new(c.led_accepted, c.led),
            rework: Ratio::new(c.rejections, c.completions),
            extension: Ratio::new(c.extended, c.assignments),
            returns: Ratio::new(c.returned, c.assignments),
            mean_working,
            median_working,
            open: c.open_now,
            overdue: c.overdue_now,
            escalations: c.escalations,
            letters: c.letters,
        }
    }
}

/// A figure a ranking of departments sorts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Figure {
    AssignmentCount,
    Response,
    Resolution,
    Satisfaction,
    MeanSatisfaction,
    OnTimeClosure,
    Closure,
    Rework,
    Extension,
    Return,
    MedianWorking,
    Open,
    Overdue,
    Escalations,
}

impl Figure {
    const NAMES: &[(&str, Figure)] = &[
        ("assignment_count", Figure::AssignmentCount),
        ("response_rate", Figure::Response),
        ("resolution_rate", Figure::Resolution),
        ("satisfaction_rate", Figure::Satisfaction),
        ("mean_satisfaction", Figure::MeanSatisfaction),
        ("on_time_closure_rate", Figure::OnTimeClosure),
        ("closure_rate", Figure::Closure),
        ("rework_rate", Figure::Rework),
        ("extension_rate", Figure::Extension),
        ("return_rate", Figure::Return),
        ("median_working_time_to_acceptance", Figure::MedianWorking),
        ("open_count", Figure::Open),
        ("overdue_count", Figure::Overdue),
        ("escalation_count", Figure::Escalations),
    ];

    /// The figure's value, `None` when it has no denominator.
    fn value(self, f: &DepartmentFigures) -> Option<f64> {
        let count = |n: i64| Some(n as f64);
        match self {
            Figure::AssignmentCount => count(f.assignments),
            Figure::Response => f.response.value(),
            Figure::Resolution => f.resolution.value(),
            Figure::Satisfaction => f.satisfaction.value(),
            Figure::MeanSatisfaction => f.satisfaction.value().map(|_| f.mean_satisfaction),
            Figure::OnTimeClosure => f.on_time_closure.value(),
            Figure::Closure => f.closure.value(),
            Figure::Rework => f.rework.value(),
            Figure::Extension => f.extension.value(),
            Figure::Return => f.returns.value(),
            Figure::MedianWorking => f.median_working.map(|d| d.as_millis() as f64),
            Figure::Open => count(f.open),
            Figure::Overdue => count(f.overdue),
            Figure::Escalations => count(f.escalations),
        }
    }
}

/// An `order_by` of one figure and a direction: `"response_rate desc"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Order<F> {
    pub figure: F,
    pub descending: bool,
}

/// Parses `"name [asc|desc]"` against `names`; empty is `default`.
pub fn parse_order<F: Copy>(
    text: &str,
    names: &[(&str, F)],
    default: Order<F>,
) -> Result<Order<F>, String> {
    let mut words = text.split_whitespace();
    let Some(name) = words.next() else {
        return Ok(default);
    };
    let figure = names
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, f)| *f)
        .ok_or_else(|| {
            let known: Vec<&str> = names.iter().map(|(n, _)| *n).collect();
            format!("{name:?} is not a figure; one of {}", known.join(", "))
        })?;
    let descending = match (words.next(), words.next()) {
        (None | Some("desc"), None) => true,
        (Some("asc"), None) => false,
        _ => {
            return Err(
                "write one figure and asc or desc, such as \"response_rate desc\"".to_owned(),
            );
        }
    };
    Ok(Order { figure, descending })
}

impl Order<Figure> {
    pub fn parse(text: &str) -> Result<Self, String> {
        parse_order(
            text,
            Figure::NAMES,
            Order {
                figure: Figure::Response,
                descending: true,
            },
        )
    }
}

/// Sorts by `value` in the order's direction, those without a value last, ties by `key`; sets each entry's rank.
fn rank_by<T>(
    items: &mut [T],
    descending: bool,
    value: impl Fn(&T) -> Option<f64>,
    key: impl Fn(&T) -> String,
    mut set_rank: impl FnMut(&mut T, u32),
) {
    items.sort_by(|a, b| {
        let ordered = match (value(a), value(b)) {
            (Some(x), Some(y)) if descending => y.total_cmp(&x),
            (Some(x), Some(y)) => x.total_cmp(&y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        };
        ordered.then_with(|| key(a).cmp(&key(b)))
    });
    for (i, item) in items.iter_mut().enumerate() {
        set_rank(item, u32::try_from(i + 1).unwrap_or(u32::MAX));
    }
}

pub fn rank_departments(items: &mut [DepartmentFigures], order: Order<Figure>) {
    rank_by(
        items,
        order.descending,
        |f| order.figure.value(f),
        |f| f.department.to_string(),
        |f, rank| f.rank = rank,
    );
}

/// One street's, grid's or category's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct AreaFigures {
    /// `streets/{street}`, `grids/{grid}` or `categories/{category}`.
    pub area: String,
    pub rank: u32,
    pub reports: i64,
    /// 吹哨率.
    pub whistle: Ratio,
    /// 就地化解率.
    pub on_site: Ratio,
    /// 一次性化解率.
    pub first_time: Ratio,
    pub previous_reports: i64,
    pub growth: f64,
}

impl AreaFigures {
    pub fn from_counts(area: String, c: &AreaCounts, previous_reports: i64) -> Self {
        Self {
            area,
            rank: 0,
            reports: c.filed,
            whistle: Ratio::new(c.whistled, c.filed),
            on_site: Ratio::new(c.settled_on_site, c.filed),
            first_time: Ratio::new(c.settled_first_time, c.filed),
            previous_reports,
            growth: Ratio::new(c.filed - previous_reports, previous_reports).rate(),
        }
    }
}

/// A figure a ranking of areas sorts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AreaFigure {
    Reports,
    Whistle,
    OnSite,
    FirstTime,
    Growth,
}

impl Order<AreaFigure> {
    pub fn parse(text: &str) -> Result<Self, String> {
        parse_order(
            text,
            &[
                ("report_count", AreaFigure::Reports),
                ("whistle_rate", AreaFigure::Whistle),
                ("on_site_rate", AreaFigure::OnSite),
                ("first_time_rate", AreaFigure::FirstTime),
                ("growth", AreaFigure::Growth),
            ],
            Order {
                figure: AreaFigure::Reports,
                descending: true,
            },
        )
    }
}

pub fn rank_areas(items: &mut [AreaFigures], order: Order<AreaFigure>) {
    rank_by(
        items,
        order.descending,
        |a| match order.figure {
            AreaFigure::Reports => Some(a.reports as f64),
            AreaFigure::Whistle => a.whistle.value(),
            AreaFigure::OnSite => a.on_site.value(),
            AreaFigure::FirstTime => a.first_time.value(),
            AreaFigure::Growth => (a.previous_reports > 0).then_some(a.growth),
        },
        |a| a.area.clone(),
        |a, rank| a.rank = rank,
    );
}
