//! The figures' RPCs of `SupervisionService` (rankings, a department's figures, breakdown, trend, shortfalls, exports), called from `supervision.rs`: each converts, calls `StatsService` and converts back.

use std::time::Duration;

use gridwhistle_domain::{DepartmentId, ReportId, Timestamp};
use gridwhistle_proto::v1;
use tonic::{Request, Response, Status};

use super::admin::department_name;
use super::closed_loop::time;
use super::convert::{PageRequest, Violations, caller, timestamp};
use super::enums::{grade_to_proto, role_to_proto};
use super::error::ApiError;
use super::stream::BoxStream;
use crate::model::{AreaGroup, ShareGroup, ShortfallKind, ShortfallPosition, ShortfallRecord};
use crate::stats::export::{self, Table};
use crate::stats::{AreaFigures, DepartmentFigures, PeriodSpec, Ratio, StatsError, StatsService};

/// The size of one part of an export.
const EXPORT_CHUNK: usize = 64 * 1024;

/// A refusal of the service, its fields named under `prefix` (the view's field in an export).
fn refused(prefix: &str) -> impl Fn(StatsError) -> ApiError + '_ {
    move |err| match err {
        StatsError::Access(e, resource) => ApiError::access(e, resource),
        StatsError::Field { field, reason } => ApiError::field(format!("{prefix}{field}"), reason),
        StatsError::Storage(e) => e.into(),
    }
}

fn period(v: &mut Violations, field: &str, p: Option<&v1::StatsPeriod>) -> Option<PeriodSpec> {
    use v1::stats_period::Period;
    match p.and_then(|p| p.period.as_ref()) {
        None => {
            v.add(field, "is required: a month, a week or a range");
            None
        }
        Some(Period::Month(m)) => Some(PeriodSpec::Month(m.clone())),
        Some(Period::Week(w)) => Some(PeriodSpec::Week(w.clone())),
        Some(Period::Range(r)) => {
            let start = time(
                v,
                &format!("{field}.range.start_time"),
                r.start_time.as_ref(),
            );
            let end = time(v, &format!("{field}.range.end_time"), r.end_time.as_ref());
            Some(PeriodSpec::Range {
                start: start?,
                end: end?,
            })
        }
    }
}

fn department(v: &mut Violations, field: &str, value: &str) -> Option<DepartmentId> {
    v.check(field, department_name(value))
}

fn ratio(r: Ratio) -> Option<v1::Ratio> {
    Some(v1::Ratio {
        numerator: r.numerator,
        denominator: r.denominator,
        rate: r.rate(),
    })
}

fn duration(d: Option<Duration>) -> Option<prost_types::Duration> {
    d.map(|d| prost_types::Duration {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(d.subsec_nanos()).unwrap_or_default(),
    })
}

fn department_to_proto(f: &DepartmentFigures) -> v1::DepartmentStats {
    v1::DepartmentStats {
        department: format!("departments/{}", f.department),
        display_name: f.display_name.clone(),
        group: f.group.clone(),
        rank: i32::try_from(f.rank).unwrap_or(i32::MAX),
        assignment_count: f.assignments,
        response_rate: ratio(f.response),
        resolution_rate: ratio(f.resolution),
        satisfaction_rate: ratio(f.satisfaction),
        mean_satisfaction: f.mean_satisfaction,
        on_time_closure_rate: ratio(f.on_time_closure),
        closure_rate: ratio(f.closure),
        rework_rate: ratio(f.rework),
        extension_rate: ratio(f.extension),
        return_rate: ratio(f.returns),
        mean_working_time_to_acceptance: duration(f.mean_working),
        median_working_time_to_acceptance: duration(f.median_working),
        open_count: f.open,
        overdue_count: f.overdue,
        escalation_count: f.escalations,
        supervision_letter_count: f.letters,
    }
}

fn area_to_proto(a: &AreaFigures) -> v1::AreaStats {
    v1::AreaStats {
        area: a.area.clone(),
        rank: i32::try_from(a.rank).unwrap_or(i32::MAX),
        report_count: a.reports,
        whistle_rate: ratio(a.whistle),
        on_site_rate: ratio(a.on_site),
        first_time_rate: ratio(a.first_time),
        previous_report_count: a.previous_reports,
        growth: a.growth,
    }
}

fn shortfall_to_proto(s: &ShortfallRecord) -> v1::Shortfall {
    let at = |t: Option<Timestamp>| t.map(timestamp);
    let count = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
    v1::Shortfall {
        case: format!("cases/{}", s.case),
        department: format!("departments/{}", s.department),
        role: role_to_proto(s.role),
        category: format!("categories/{}", s.category),
        risk_grade: grade_to_proto(s.risk_grade),
        summon_time: at(Some(s.summoned_at)),
        report_in_due_time: at(s.report_in_due),
        report_in_time: at(s.report_in_at),
        finish_due_time: at(s.finish_due),
        complete_time: at(s.complete_at),
        accept_time: at(s.accepted_at),
        satisfaction: s.satisfaction.map_or(0, i32::from),
        rejection_count: count(s.rejections),
        return_count: count(s.returns),
        extension_count: count(s.extensions_approved),
    }
}

fn dimension(value: i32) -> Result<ShareGroup, &'static str> {
    match v1::StatsDimension::try_from(value) {
        Ok(v1::StatsDimension::Category) => Ok(ShareGroup::Category),
        Ok(v1::StatsDimension::RiskGrade) => Ok(ShareGroup::RiskGrade),
        _ => Err("is required: CATEGORY or RISK_GRADE"),
    }
}

fn level(value: i32) -> Result<AreaGroup, &'static str> {
    match v1::AreaLevel::try_from(value) {
        Ok(v1::AreaLevel::Street) => Ok(AreaGroup::Street),
        Ok(v1::AreaLevel::Grid) => Ok(AreaGroup::Grid),
        Ok(v1::AreaLevel::Category) => Ok(AreaGroup::Category),
        _ => Err("is required: STREET, GRID or CATEGORY"),
    }
}

fn shortfall_kind(value: i32) -> Result<ShortfallKind, &'static str> {
    use v1::ShortfallKind as K;
    match K::try_from(value) {
        Ok(K::LateReportIn) => Ok(ShortfallKind::LateReportIn),
        Ok(K::Rework) => Ok(ShortfallKind::Rework),
        Ok(K::Return) => Ok(ShortfallKind::Return),
        Ok(K::LateClosure) => Ok(ShortfallKind::LateClosure),
        Ok(K::Extension) => Ok(ShortfallKind::Extension),
        Ok(K::Dissatisfied) => Ok(ShortfallKind::Dissatisfied),
        _ => Err("is required: a kind of shortfall"),
    }
}

/// Parses a `{summoned_ms}.{report}` position from a page token.
fn shortfall_position(key: &str) -> Result<ShortfallPosition, &'static str> {
    const BAD: &str = "is not a token this server issued";
    let (at, report) = key.split_once('.').ok_or(BAD)?;
    let at = at.parse::<i64>().map_err(|_| BAD)?;
    ReportId::parse(report).map_err(|_| BAD)?;
    Ok(ShortfallPosition {
        summoned_at: Timestamp::from_unix_millis(at),
        report: report.to_owned(),
    })
}

pub(super) async fn get_department_stats(
    stats: &StatsService,
    request: Request<v1::GetDepartmentStatsRequest>,
) -> Result<Response<v1::GetDepartmentStatsResponse>, Status> {
    let actor = caller(&request)?.actor.clone();
    let r = request.into_inner();
    let mut v = Violations::default();
    let department = department(&mut v, "department", &r.department);
    let period = period(&mut v, "period", r.period.as_ref());
    v.finish()?;
    let (Some(department), Some(period)) = (department, period) else {
        return Err(ApiError::field("department", "is invalid").into());
    };
    let figures = stats
        .department(&actor, &department, &period)
        .await
        .map_err(refused(""))?;
    Ok(Response::new(v1::GetDepartmentStatsResponse {
        stats: Some(department_to_proto(&figures)),
    }))
}

/// The view an export or its own RPC answers, as a table and a file name; `prefix` names its fields.
async fn ranking(
    stats: &StatsService,
    actor: &gridwhistle_domain::Actor,
    r: &v1::ListDepartmentStatsRequest,
    prefix: &str,
) -> Result<Vec<DepartmentFigures>, ApiError> {
    let mut v = Violations::default();
    let period = period(&mut v, &format!("{prefix}period"), r.period.as_ref());
    v.finish()?;
    let Some(period) = period else {
        return Err(ApiError::field("period", "is invalid"));
    };
    stats
        .ranking(actor, &period, &r.order_by)
        .await
        .map_err(refused(prefix))
}

pub(super) async fn list_department_stats(
    stats: &StatsService,
    request: Request<v1::ListDepartmentStatsRequest>,
) -> Result<Response<v1::ListDepartmentStatsResponse>, Status> {
    let actor = caller(&request)?.actor.clone();
    let figures = ranking(stats, &actor, request.get_ref(), "").await?;
    Ok(Response::new(v1::ListDepartmentStatsResponse {
        stats: figures.iter().map(department_to_proto).collect(),
    }))
}

async fn breakdown(
    stats: &StatsService,
    actor: &gridwhistle_domain::Actor,
    r: &v1::BreakDownDepartmentStatsRequest,
    prefix: &str,
) -> Result<(ShareGroup, Vec<DepartmentFigures>), ApiError> {
    let mut v = Violations::default();
    let department = department(&mut v, &format!("{prefix}department"), &r.department);
    let period = period(&mut v, &format!("{prefix}period"), r.period.as_ref());
    let group = v.check(&format!("{prefix}dimension"), dimension(r.dimension));
    v.finish()?;
    let (Some(department), Some(period), Some(group)) = (department, period, group) else {
        return Err(ApiError::field("department", "is invalid"));
    };
    let figures = stats
        .breakdown(actor, &department, &period, group)
        .await
        .map_err(refused(prefix))?;
    Ok((group, figures))
}

pub(super) async fn break_down_department_stats(
    stats: &StatsService,
    request: Request<v1::BreakDownDepartmentStatsRequest>,
) -> Result<Response<v1::BreakDownDepartmentStatsResponse>, Status> {
    let actor = caller(&request)?.actor.clone();
    let (_, figures) = breakdown(stats, &actor, request.get_ref(), "").await?;
    Ok(Response::new(v1::BreakDownDepartmentStatsResponse {
        stats: figures.iter().map(department_to_proto).collect(),
    }))
}

pub(super) async fn list_department_trend(
    stats: &StatsService,
    request: Request<v1::ListDepartmentTrendRequest>,
) -> Result<Response<v1::ListDepartmentTrendResponse>, Status> {
    let actor = caller(&request)?.actor.clone();
    let r = request.into_inner();
    let mut v = Violations::default();
    let department = department(&mut v, "department", &r.department);
    let months = v.check(
        "month_count",
        u32::try_from(r.month_count).map_err(|_| "must not be negative"),
    );
    v.finish()?;
    let (Some(department), Some(months)) = (department, months) else {
        return Err(ApiError::field("department", "is invalid").into());
    };
    let end = (!r.end_month.is_empty()).then_some(r.end_month.as_str());
    let figures = stats
        .trend(&actor, &department, end, months)
        .await
        .map_err(refused(""))?;
    Ok(Response::new(v1::ListDepartmentTrendResponse {
        stats: figures.iter().map(department_to_proto).collect(),
    }))
}

async fn areas(
    stats: &StatsService,
    actor: &gridwhistle_domain::Actor,
    r: &v1::ListAreaStatsRequest,
    prefix: &str,
) -> Result<(AreaGroup, Vec<AreaFigures>), ApiError> {
    let mut v = Violations::default();
    let period = period(&mut v, &format!("{prefix}period"), r.period.as_ref());
    let group = v.check(&format!("{prefix}level"), level(r.level));
    v.finish()?;
    let (Some(period), Some(group)) = (period, group) else {
        return Err(ApiError::field("period", "is invalid"));
    };
    let figures = stats
        .areas(actor, &period, group, &r.order_by)
        .await
        .map_err(refused(prefix))?;
    Ok((group, figures))
}

pub(super) async fn list_area_stats(
    stats: &StatsService,
    request: Request<v1::ListAreaStatsRequest>,
) -> Result<Response<v1::ListAreaStatsResponse>, Status> {
    let actor = caller(&request)?.actor.clone();
    let (_, figures) = areas(stats, &actor, request.get_ref(), "").await?;
    Ok(Response::new(v1::ListAreaStatsResponse {
        stats: figures.iter().map(area_to_proto).collect(),
    }))
}

/// The shortfalls a request names: one page, or (`page` `None`) all of them.
async fn shortfalls(
    stats: &StatsService,
    actor: &gridwhistle_domain::Actor,
    r: &v1::ListShortfallsRequest,
    prefix: &str,
    page: Option<&PageRequest>,
) -> Result<Vec<ShortfallRecord>, ApiError> {
    let mut v = Violations::default();
    let department = department(&mut v, &format!("{prefix}department"), &r.department);
    let period = period(&mut v, &format!("{prefix}period"), r.period.as_ref());
    let kind = v.check(&format!("{prefix}kind"), shortfall_kind(r.kind));
    let after = match page.and_then(|p| p.after.as_deref()) {
        Some(key) => v.check(&format!("{prefix}page_token"), shortfall_position(key)),
        None => None,
    };
    v.finish()?;
    let (Some(department), Some(period), Some(kind)) = (department, period, kind) else {
        return Err(ApiError::field("department", "is invalid"));
    };
    let mut all = Vec::new();
    let mut after = after;
    loop {
        let size = page.map_or(1000, |p| p.size);
        let batch = stats
            .shortfalls(actor, &department, &period, kind, after.as_ref(), size)
            .await
            .map_err(refused(prefix))?;
        let full = batch.len() as u64 >= size;
        after = batch.last().map(|s| ShortfallPosition {
            summoned_at: s.summoned_at,
            report: s.report.to_string(),
        });
        all.extend(batch);
        if page.is_some() || !full {
            return Ok(all);
        }
    }
}

pub(super) async fn list_shortfalls(
    stats: &StatsService,
    request: Request<v1::ListShortfallsRequest>,
) -> Result<Response<v1::ListShortfallsResponse>, Status> {
    let actor = caller(&request)?.actor.clone();
    let r = request.into_inner();
    let page = PageRequest::parse(r.page_size, &r.page_token)?;
    let found = shortfalls(stats, &actor, &r, "", Some(&page)).await?;
    Ok(Response::new(v1::ListShortfallsResponse {
        next_page_token: page.next_token(&found, |s| {
            format!("{}.{}", s.summoned_at.as_unix_millis(), s.report)
        }),
        shortfalls: found.iter().map(shortfall_to_proto).collect(),
    }))
}

/// A file name's part for a period.
fn period_label(p: Option<&v1::StatsPeriod>) -> String {
    use v1::stats_period::Period;
    match p.and_then(|p| p.period.as_ref()) {
        Some(Period::Month(m)) => m.clone(),
        Some(Period::Week(w)) => w.clone(),
        _ => "range".to_owned(),
    }
}

/// The table an export request names, and its file name without extension.
async fn export_table(
    stats: &StatsService,
    actor: &gridwhistle_domain::Actor,
    view: Option<&v1::export_stats_request::View>,
) -> Result<(Table, String), ApiError> {
    use v1::export_stats_request::View;
    match view {
        None => Err(ApiError::field(
            "view",
            "is required: ranking, breakdown, shortfalls or areas",
        )),
        Some(View::Ranking(r)) => {
            let figures = ranking(stats, actor, r, "ranking.").await?;
            let table = export::departments_table("部门排名", None, &figures);
            Ok((
                table,
                format!("departments-{}", period_label(r.period.as_ref())),
            ))
        }
        Some(View::Breakdown(r)) => {
            let (group, figures) = breakdown(stats, actor, r, "breakdown.").await?;
            let (sheet, header) = match group {
                ShareGroup::RiskGrade => ("风险等级分析", "风险等级"),
                ShareGroup::Category | ShareGroup::Department => ("类别分析", "类别"),
            };
            let table = export::departments_table(sheet, Some(header), &figures);
            let department = r.department.trim_start_matches("departments/");
            Ok((
                table,
                format!("{department}-{}", period_label(r.period.as_ref())),
            ))
        }
        Some(View::Shortfalls(r)) => {
            let found = shortfalls(stats, actor, r, "shortfalls.", None).await?;
            let table = export::shortfalls_table(&stats.zone(), &found);
            let department = r.department.trim_start_matches("departments/");
            Ok((
                table,
                format!(
                    "{department}-shortfalls-{}",
                    period_label(r.period.as_ref())
                ),
            ))
        }
        Some(View::Areas(r)) => {
            let (group, figures) = areas(stats, actor, r, "areas.").await?;
            let (sheet, name) = match group {
                AreaGroup::Street => ("街道排名", "streets"),
                AreaGroup::Grid => ("网格排名", "grids"),
                AreaGroup::Category => ("类别排名", "categories"),
            };
            let table = export::areas_table(sheet, &figures);
            Ok((table, format!("{name}-{}", period_label(r.period.as_ref()))))
        }
    }
}

pub(super) async fn export_stats(
    stats: &StatsService,
    request: Request<v1::ExportStatsRequest>,
) -> Result<Response<BoxStream<v1::ExportStatsResponse>>, Status> {
    let actor = caller(&request)?.actor.clone();
    let r = request.into_inner();
    let format = match v1::ExportFormat::try_from(r.format) {
        Ok(v1::ExportFormat::Csv) => v1::ExportFormat::Csv,
        Ok(v1::ExportFormat::Xlsx) => v1::ExportFormat::Xlsx,
        _ => return Err(ApiError::field("format", "is required: CSV or XLSX").into()),
    };
    let (table, name) = export_table(stats, &actor, r.view.as_ref()).await?;
    let parts = file_parts(&table, format, &name, |content_type, filename, data| {
        v1::ExportStatsResponse {
            content_type,
            filename,
            data,
        }
    })?;
    Ok(Response::new(Box::pin(tokio_stream::iter(parts))))
}

/// `table` as a file in `format`, in parts of at most 64 KiB built by `part` (content type, file name, bytes); the first part carries the type and the name `{name}.{extension}`.
pub(super) fn file_parts<T>(
    table: &export::Table,
    format: v1::ExportFormat,
    name: &str,
    part: impl Fn(String, String, Vec<u8>) -> T,
) -> Result<Vec<Result<T, Status>>, ApiError> {
    let (bytes, content_type, extension) = match format {
        v1::ExportFormat::Xlsx => (
            export::to_xlsx(table).map_err(ApiError::internal)?,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "xlsx",
        ),
        _ => (export::to_csv(table), "text/csv; charset=utf-8", "csv"),
    };
    let mut chunks: Vec<&[u8]> = bytes.chunks(EXPORT_CHUNK).collect();
    if chunks.is_empty() {
        chunks.push(&[]);
    }
    Ok(chunks
        .into_iter()
        .enumerate()
        .map(|(i, chunk)| {
            let (content_type, filename) = if i == 0 {
                (content_type.to_owned(), format!("{name}.{extension}"))
            } else {
                (String::new(), String::new())
            };
            Ok(part(content_type, filename, chunk.to_vec()))
        })
        .collect())
}

pub(super) fn rebuild_to_proto(s: crate::stats::RebuildSummary) -> v1::RebuildStatsFactsResponse {
    let n = |x: usize| i64::try_from(x).unwrap_or(i64::MAX);
    v1::RebuildStatsFactsResponse {
        case_count: n(s.cases),
        assignment_count: n(s.assignments),
        changed_assignment_count: n(s.changed),
        changed_rollup_count: n(s.rollups_changed),
    }
}

/// The refusal of a rebuild, as every figures RPC maps it.
pub(super) fn rebuild_refused(err: StatsError) -> ApiError {
    refused("")(err)
}
