//! Writing a [`Report`] as CSV or as an XLSX workbook.
//!
//! Text from platforms and plugins is data, never a formula: in CSV a text
//! cell that a spreadsheet would read as one (starting with `=`, `+`, `-`,
//! `@`, a tab or a carriage return) is written with a leading `'`; in XLSX
//! every text cell is written as a string.

use super::Report;
use crate::control::ControlError;
use rust_xlsxwriter::{Format, Workbook};
use serde::Deserialize;
use serde_json::Value;

/// The most characters one XLSX cell holds.
const XLSX_CELL_CHARS: usize = 32_767;

/// A report's file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SheetFormat {
    /// Comma-separated values, UTF-8, with a header row.
    #[default]
    Csv,
    /// An Excel workbook with one sheet.
    Xlsx,
}

impl SheetFormat {
    /// The file's media type.
    pub fn content_type(self) -> &'static str {
        match self {
            SheetFormat::Csv => "text/csv; charset=utf-8",
            SheetFormat::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }
    }

    /// The file name's extension.
    pub fn extension(self) -> &'static str {
        match self {
            SheetFormat::Csv => "csv",
            SheetFormat::Xlsx => "xlsx",
        }
    }
}

fn failed(error: impl std::fmt::Display) -> ControlError {
    ControlError::Internal(format!("the report could not be written: {error}"))
}

/// A cell's text: strings as they are, nested values as JSON.
fn text_of(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Write `report` in `format`; `sheet` names the XLSX sheet.
pub fn write(report: &Report, format: SheetFormat, sheet: &str) -> Result<Vec<u8>, ControlError> {
    match format {
        SheetFormat::Csv => write_csv(report),
        SheetFormat::Xlsx => write_xlsx(report, sheet),
    }
}

fn write_csv(report: &Report) -> Result<Vec<u8>, ControlError> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(&report.columns).map_err(failed)?;
    for row in &report.rows {
        let cells = report.columns.iter().map(|column| match row.get(column) {
            Some(Value::String(text)) if text.starts_with(['=', '+', '-', '@', '\t', '\r']) => {
                format!("'{text}")
            }
            Some(value) => text_of(value),
            None => String::new(),
        });
        writer.write_record(cells).map_err(failed)?;
    }
    writer.into_inner().map_err(failed)
}

fn write_xlsx(report: &Report, sheet: &str) -> Result<Vec<u8>, ControlError> {
    let mut workbook = Workbook::new();
    let worksheet = workbook.add_worksheet();
    worksheet.set_name(sheet).map_err(failed)?;
    let bold = Format::new().set_bold();
    for (col, name) in report.columns.iter().enumerate() {
        let col = u16::try_from(col).map_err(failed)?;
        worksheet
            .write_string_with_format(0, col, name, &bold)
            .map_err(failed)?;
    }
    for (index, row) in report.rows.iter().enumerate() {
        let line = u32::try_from(index + 1).map_err(failed)?;
        for (col, name) in report.columns.iter().enumerate() {
            let col = u16::try_from(col).map_err(failed)?;
            match row.get(name) {
                None | Some(Value::Null) => {}
                Some(Value::Bool(flag)) => {
                    worksheet.write_boolean(line, col, *flag).map_err(failed)?;
                }
                Some(Value::Number(number)) => match number.as_f64() {
                    Some(number) => {
                        worksheet.write_number(line, col, number).map_err(failed)?;
                    }
                    None => {
                        worksheet
                            .write_string(line, col, number.to_string())
                            .map_err(failed)?;
                    }
                },
                Some(value) => {
                    let text: String = text_of(value).chars().take(XLSX_CELL_CHARS).collect();
                    worksheet.write_string(line, col, text).map_err(failed)?;
                }
            }
        }
    }
    workbook.save_to_buffer().map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn report() -> Report {
        let mut report = Report::default();
        for row in [
            json!({"day": "2026-03-01", "spend": 12.5, "note": "=HYPERLINK(\"x\")"}),
            json!({"day": "2026-03-02", "spend": -3, "nested": {"a": [1, 2]}}),
        ] {
            report.push(row).expect("row");
        }
        report
    }

    #[test]
    fn csv_has_a_header_every_row_and_no_formulas() {
        let bytes = write(&report(), SheetFormat::Csv, "usage").expect("csv");
        let mut reader = csv::Reader::from_reader(bytes.as_slice());
        let header: Vec<String> = reader
            .headers()
            .expect("header")
            .iter()
            .map(String::from)
            .collect();
        assert_eq!(header, ["day", "note", "spend", "nested"]);
        let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
        assert_eq!(&rows[0][1], "'=HYPERLINK(\"x\")", "text is never a formula");
        assert_eq!(&rows[1][2], "-3", "numbers stay numbers");
        assert_eq!(&rows[1][3], r#"{"a":[1,2]}"#);
    }
}
