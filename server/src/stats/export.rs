//! Exports of the figures as tables: CSV (UTF-8 with a byte-order mark, so spreadsheet programs read Chinese text) and XLSX (one sheet per view, Chinese headers, rates as percentages).
//!
//! A table holds only what its view's RPC answers: ids, names of departments, counts, rates and times; never a party.

use gridwhistle_dispatcher::calendar::Zone;
use gridwhistle_domain::{AssignmentRole, Timestamp};
use rust_xlsxwriter::{Format, Workbook, XlsxError};

use super::figures::{AreaFigures, DepartmentFigures, Ratio};
use crate::model::ShortfallRecord;

/// One cell of an exported table.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    Count(i64),
    /// A fraction shown as a percentage.
    Rate(f64),
    /// A number with two decimals (scores, hours).
    Number(f64),
    Empty,
}

/// A view as a table: its sheet's name, headers and rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub sheet: &'static str,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

/// The ratios of a department table, in the order of its columns.
const RATIOS: [&str; 8] = [
    "响应率",
    "解决率",
    "满意率",
    "按期结案率",
    "结案率",
    "返工率",
    "延期率",
    "退单率",
];

/// Each ratio's three columns: numerator (分子), denominator (分母) and the rate.
fn ratio_headers(headers: &mut Vec<String>, names: &[&str]) {
    for name in names {
        headers.push(format!("{name}分子"));
        headers.push(format!("{name}分母"));
        headers.push((*name).to_owned());
    }
}

fn ratio_cells(r: Ratio) -> [Cell; 3] {
    [
        Cell::Count(r.numerator),
        Cell::Count(r.denominator),
        Cell::Rate(r.rate()),
    ]
}

fn hours(d: Option<std::time::Duration>) -> Cell {
    d.map_or(Cell::Empty, |d| Cell::Number(d.as_secs_f64() / 3600.0))
}

/// Departments' figures: a ranking (`grouped` false) or one department's breakdown by `group_header`.
pub fn departments_table(
    sheet: &'static str,
    group_header: Option<&str>,
    figures: &[DepartmentFigures],
) -> Table {
    let mut headers: Vec<String> = vec!["排名".into(), "部门编号".into(), "部门名称".into()];
    if let Some(group) = group_header {
        headers.push(group.to_owned());
    }
    headers.push("派单数".into());
    ratio_headers(&mut headers, &RATIOS);
    for h in [
        "满意度均分",
        "平均办结工时（小时）",
        "中位办结工时（小时）",
        "在办数",
        "超期数",
        "升级次数",
        "督办函数",
    ] {
        headers.push(h.to_owned());
    }
    let rows = figures
        .iter()
        .map(|f| {
            let mut row = vec![
                if f.rank > 0 {
                    Cell::Count(i64::from(f.rank))
                } else {
                    Cell::Empty
                },
                Cell::Text(f.department.to_string()),
                Cell::Text(f.display_name.clone()),
            ];
            if group_header.is_some() {
                row.push(Cell::Text(f.group.clone()));
            }
            row.push(Cell::Count(f.assignments));
            for r in [
                f.response,
                f.resolution,
                f.satisfaction,
                f.on_time_closure,
                f.closure,
                f.rework,
                f.extension,
                f.returns,
            ] {
                row.extend(ratio_cells(r));
            }
            row.extend([
                Cell::Number(f.mean_satisfaction),
                hours(f.mean_working),
                hours(f.median_working),
                Cell::Count(f.open),
                Cell::Count(f.overdue),
                Cell::Count(f.escalations),
                Cell::Count(f.letters),
            ]);
            row
        })
        .collect();
    Table {
        sheet,
        headers,
        rows,
    }
}

/// Streets', grids' or categories' figures.
pub fn areas_table(sheet: &'static str, areas: &[AreaFigures]) -> Table {
    let mut headers: Vec<String> = vec!["排名".into(), "区域".into(), "上报数".into()];
    ratio_headers(&mut headers, &["吹哨率", "就地化解率", "一次性化解率"]);
    headers.push("上期上报数".into());
    headers.push("环比增长".into());
    let rows = areas
        .iter()
        .map(|a| {
            let mut row = vec![
                Cell::Count(i64::from(a.rank)),
                Cell::Text(a.area.clone()),
                Cell::Count(a.reports),
            ];
            for r in [a.whistle, a.on_site, a.first_time] {
                row.extend(ratio_cells(r));
            }
            row.push(Cell::Count(a.previous_reports));
            row.push(Cell::Rate(a.growth));
            row
        })
        .collect();
    Table {
        sheet,
        headers,
        rows,
    }
}

/// The assignments behind a shortfall, times in the district's zone.
pub fn shortfalls_table(zone: &Zone, shortfalls: &[ShortfallRecord]) -> Table {
    let headers = [
        "案件",
        "部门编号",
        "角色",
        "类别",
        "风险等级",
        "派单时间",
        "报到时限",
        "报到时间",
        "办结时限",
        "办结时间",
        "核查通过时间",
        "满意度",
        "返工次数",
        "退单次数",
        "延期次数",
    ]
    .map(str::to_owned)
    .to_vec();
    let time = |t: Option<Timestamp>| t.map_or(Cell::Empty, |t| Cell::Text(zone.format(t)));
    let rows = shortfalls
        .iter()
        .map(|s| {
            vec![
                Cell::Text(format!("cases/{}", s.case)),
                Cell::Text(s.department.to_string()),
                Cell::Text(
                    match s.role {
                        AssignmentRole::Lead => "主办",
                        AssignmentRole::Assist => "协办",
                    }
                    .to_owned(),
                ),
                Cell::Text(s.category.to_string()),
                Cell::Text(s.risk_grade.map_or("", |g| g.as_str()).to_uppercase()),
                time(Some(s.summoned_at)),
                time(s.report_in_due),
                time(s.report_in_at),
                time(s.finish_due),
                time(s.complete_at),
                time(s.accepted_at),
                s.satisfaction
                    .map_or(Cell::Empty, |n| Cell::Count(i64::from(n))),
                Cell::Count(i64::from(s.rejections)),
                Cell::Count(i64::from(s.returns)),
                Cell::Count(i64::from(s.extensions_approved)),
            ]
        })
        .collect();
    Table {
        sheet: "问题清单",
        headers,
        rows,
    }
}

/// A CSV field, quoted when it holds a comma, quote or line break (RFC 4180).
fn csv_field(out: &mut String, text: &str) {
    if text.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&text.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(text);
    }
}

/// The table as CSV: a byte-order mark, a header line, one line per row, CRLF line ends; rates as percentages with two decimals.
pub fn to_csv(table: &Table) -> Vec<u8> {
    let mut out = String::from("\u{feff}");
    let mut line = |cells: Vec<String>| {
        for (i, cell) in cells.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            csv_field(&mut out, cell);
        }
        out.push_str("\r\n");
    };
    line(table.headers.clone());
    for row in &table.rows {
        line(
            row.iter()
                .map(|c| match c {
                    Cell::Text(t) => t.clone(),
                    Cell::Count(n) => n.to_string(),
                    Cell::Rate(r) => format!("{:.2}%", r * 100.0),
                    Cell::Number(x) => format!("{x:.2}"),
                    Cell::Empty => String::new(),
                })
                .collect(),
        );
    }
    out.into_bytes()
}

/// The table as an XLSX workbook of one sheet: bold frozen headers, rates formatted `0.00%`.
pub fn to_xlsx(table: &Table) -> Result<Vec<u8>, XlsxError> {
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.set_name(table.sheet)?;
    let bold = Format::new().set_bold();
    let percent = Format::new().set_num_format("0.00%");
    let decimal = Format::new().set_num_format("0.00");
    for (col, header) in table.headers.iter().enumerate() {
        let col = u16::try_from(col).unwrap_or(u16::MAX);
        sheet.write_string_with_format(0, col, header, &bold)?;
        sheet.set_column_width(col, 14)?;
    }
    sheet.set_freeze_panes(1, 0)?;
    for (r, row) in table.rows.iter().enumerate() {
        let r = u32::try_from(r + 1).unwrap_or(u32::MAX);
        for (col, cell) in row.iter().enumerate() {
            let col = u16::try_from(col).unwrap_or(u16::MAX);
            match cell {
                Cell::Text(t) => {
                    sheet.write_string(r, col, t)?;
                }
                Cell::Count(n) => {
                    sheet.write_number(r, col, *n as f64)?;
                }
                Cell::Rate(x) => {
                    sheet.write_number_with_format(r, col, *x, &percent)?;
                }
                Cell::Number(x) => {
                    sheet.write_number_with_format(r, col, *x, &decimal)?;
                }
                Cell::Empty => {}
            }
        }
    }
    workbook.save_to_buffer()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_starts_with_a_bom_and_quotes_what_needs_it() {
        let table = Table {
            sheet: "t",
            headers: vec!["部门".into(), "率".into()],
            rows: vec![vec![Cell::Text("a,\"b\"".into()), Cell::Rate(0.875)]],
        };
        let csv = String::from_utf8(to_csv(&table)).unwrap();
        assert_eq!(csv, "\u{feff}部门,率\r\n\"a,\"\"b\"\"\",87.50%\r\n");
    }
}
