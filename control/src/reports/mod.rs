//! Reports: a tenant's records, insights, proposals or usage over a range
//! of days, as a table that [`sheet`] writes as CSV or XLSX.
//!
//! Every row is an object; its top-level fields become the columns, in the
//! order they are first seen, and nested values are written as JSON text.
//! A report stops at [`MAX_ROWS`] rather than holding the host's memory: a
//! larger one is refused with a hint to narrow the range.

pub mod sheet;

use crate::control::{ControlError, ControlPlane};
use crate::sync::RecordQuery;
use crate::tenant::Principal;
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::{Map, Value};

/// The most rows one report holds.
pub const MAX_ROWS: usize = 100_000;

/// Records read per page while a report is built.
const RECORDS_PER_PAGE: usize = 1000;

/// Runs read per page while a report is built.
const RUNS_PER_PAGE: usize = 200;

/// What a report holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Dataset {
    /// One stream of a connector's synced records (by their `date` field).
    Records,
    /// The insights of the tenant's agent runs (by the run's start).
    Insights,
    /// The agents' proposals (by when they were made).
    Proposals,
    /// Calls, fuel and errors per plugin and day.
    Usage,
}

impl Dataset {
    /// The name used in file names.
    pub fn as_str(self) -> &'static str {
        match self {
            Dataset::Records => "records",
            Dataset::Insights => "insights",
            Dataset::Proposals => "proposals",
            Dataset::Usage => "usage",
        }
    }
}

/// The days a report covers, both ends included; open when absent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DayRange {
    /// The first day.
    pub from: Option<NaiveDate>,
    /// The last day.
    pub to: Option<NaiveDate>,
}

impl DayRange {
    /// Read `from` and `to` (`YYYY-MM-DD`), refusing a range that ends
    /// before it starts.
    pub fn parse(from: Option<&str>, to: Option<&str>) -> Result<Self, ControlError> {
        let day = |name: &str, text: Option<&str>| {
            text.map(|t| {
                NaiveDate::parse_from_str(t, "%Y-%m-%d").map_err(|_| {
                    ControlError::Invalid(format!("`{name}` must be a day as YYYY-MM-DD, not `{t}`"))
                })
            })
            .transpose()
        };
        let range = Self {
            from: day("from", from)?,
            to: day("to", to)?,
        };
        if let (Some(from), Some(to)) = (range.from, range.to)
            && from > to
        {
            return Err(ControlError::Invalid(format!(
                "`from` ({from}) is after `to` ({to})"
            )));
        }
        Ok(range)
    }

    /// Whether the range starts after the day that `text` starts with.
    pub fn is_after(&self, text: &str) -> bool {
        let day = text
            .get(..10)
            .and_then(|t| NaiveDate::parse_from_str(t, "%Y-%m-%d").ok());
        matches!((self.from, day), (Some(from), Some(day)) if day < from)
    }

    /// Whether the day that `text` starts with (an RFC 3339 time or a
    /// `YYYY-MM-DD` day) is in the range; text without a day is only in an
    /// open range.
    pub fn holds(&self, text: Option<&str>) -> bool {
        let day = text
            .and_then(|t| t.get(..10))
            .and_then(|t| NaiveDate::parse_from_str(t, "%Y-%m-%d").ok());
        match day {
            Some(day) => self.from.is_none_or(|from| day >= from) && self.to.is_none_or(|to| day <= to),
            None => self.from.is_none() && self.to.is_none(),
        }
    }
}

/// A report's rows and the columns they span.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// Column names, in the order first seen.
    pub columns: Vec<String>,
    /// One object per row.
    pub rows: Vec<Map<String, Value>>,
}

impl Report {
    fn push(&mut self, row: Value) -> Result<(), ControlError> {
        let Value::Object(row) = row else {
            return Err(ControlError::Internal("a report row is not an object".into()));
        };
        if self.rows.len() == MAX_ROWS {
            return Err(ControlError::Invalid(format!(
                "the report has more than {MAX_ROWS} rows; narrow the range of days"
            )));
        }
        for column in row.keys() {
            if !self.columns.contains(column) {
                self.columns.push(column.clone());
            }
        }
        self.rows.push(row);
        Ok(())
    }
}

/// Which report to build.
#[derive(Debug, Clone)]
pub struct ReportRequest {
    /// What it holds.
    pub dataset: Dataset,
    /// The days it covers.
    pub days: DayRange,
    /// For records: the connector and its stream.
    pub stream: Option<(String, String)>,
}

fn to_value(value: impl serde::Serialize) -> Result<Value, ControlError> {
    serde_json::to_value(value).map_err(|e| ControlError::Internal(e.to_string()))
}

impl ControlPlane {
    /// Build `request`'s report of `tenant`, read as `principal`.
    pub async fn report(
        &self,
        principal: &Principal,
        tenant: &str,
        request: &ReportRequest,
    ) -> Result<Report, ControlError> {
        principal.require_tenant(tenant)?;
        let days = request.days;
        let mut report = Report::default();
        match request.dataset {
            Dataset::Records => {
                let Some((connector, stream)) = request.stream.clone() else {
                    return Err(ControlError::Invalid(
                        "a records report needs `connector` and `stream`".into(),
                    ));
                };
                let mut after = None;
                loop {
                    let query = RecordQuery {
                        connector: connector.clone(),
                        stream: stream.clone(),
                        after,
                        limit: RECORDS_PER_PAGE,
                        filter: None,
                    };
                    let page = self.records(principal, tenant, query).await?;
                    for record in page.records {
                        let record: Value = serde_json::from_str(record.get())
                            .map_err(|e| ControlError::Internal(e.to_string()))?;
                        if days.holds(record.get("date").and_then(Value::as_str)) {
                            report.push(record)?;
                        }
                    }
                    match page.next {
                        Some(next) => after = Some(next),
                        None => break,
                    }
                }
            }
            Dataset::Insights => {
                let mut after = None;
                'runs: loop {
                    let runs = self.runs(principal, tenant, after.take(), RUNS_PER_PAGE).await?;
                    let Some(last) = runs.last() else { break };
                    after = Some(last.id.clone());
                    for run in runs {
                        // Runs come newest first: the rest started earlier still.
                        if days.is_after(&run.started_at) {
                            break 'runs;
                        }
                        if !days.holds(Some(&run.started_at)) {
                            continue;
                        }
                        let insights = run
                            .output
                            .as_ref()
                            .and_then(|o| o.get("insights"))
                            .and_then(Value::as_array);
                        for insight in insights.into_iter().flatten() {
                            let mut row = Map::new();
                            row.insert("run".into(), Value::String(run.id.clone()));
                            row.insert("agent".into(), Value::String(run.plugin.clone()));
                            row.insert("agent_version".into(), Value::String(run.version.clone()));
                            row.insert("started_at".into(), Value::String(run.started_at.clone()));
                            if let Value::Object(fields) = insight {
                                row.extend(fields.clone());
                            }
                            report.push(Value::Object(row))?;
                        }
                    }
                }
            }
            Dataset::Proposals => {
                let mut proposals = self.proposals(principal, tenant, None).await?;
                // Oldest first, like the other reports.
                proposals.reverse();
                for proposal in proposals.into_iter().filter(|p| days.holds(Some(&p.created_at))) {
                    report.push(to_value(proposal)?)?;
                }
            }
            Dataset::Usage => {
                for row in self.usage(principal, tenant).await? {
                    if days.holds(Some(&row.day)) {
                        report.push(to_value(row)?)?;
                    }
                }
            }
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_holds_its_ends_and_refuses_to_run_backwards() {
        let range = DayRange::parse(Some("2026-03-01"), Some("2026-03-31")).expect("a range");
        assert!(range.holds(Some("2026-03-01")));
        assert!(range.holds(Some("2026-03-31T23:59:59Z")));
        assert!(!range.holds(Some("2026-04-01")));
        assert!(!range.holds(Some("2026-02-28T12:00:00Z")));
        assert!(!range.holds(None), "an undated row is outside a range");
        assert!(DayRange::default().holds(None), "but inside an open one");
        assert!(DayRange::parse(Some("2026-03-02"), Some("2026-03-01")).is_err());
        assert!(DayRange::parse(Some("March"), None).is_err());
    }

    #[test]
    fn columns_are_every_field_once_and_a_report_stops_at_its_row_limit() {
        let mut report = Report::default();
        report.push(serde_json::json!({"a": 2, "b": 1})).expect("row");
        report.push(serde_json::json!({"a": 4, "c": 3})).expect("row");
        assert_eq!(report.columns, ["a", "b", "c"]);
        report.rows.resize(MAX_ROWS, Map::new());
        let error = report.push(serde_json::json!({"a": 5})).expect_err("full");
        assert!(error.to_string().contains("narrow the range"), "{error}");
    }
}
