//! How the admin commands show API answers: a list as columns under
//! upper-case headers, one object as field and value, cells from JSON.

use comfy_table::{Table, presets};
use serde_json::Value;

/// A column of a list: its header and how to read its cell from a row.
pub(super) struct Column {
    header: &'static str,
    cell: fn(&Value) -> String,
}

/// A column with `header` whose cell is `cell` of the row.
pub(super) const fn column(header: &'static str, cell: fn(&Value) -> String) -> Column {
    Column { header, cell }
}

fn plain() -> Table {
    let mut table = Table::new();
    table.load_style(presets::NOTHING);
    table
}

/// `rows` as a table of `columns`; a line saying so when there are none.
pub(super) fn list(columns: &[Column], rows: &[Value], what: &str) -> String {
    if rows.is_empty() {
        return format!("no {what}");
    }
    let mut table = plain();
    table.set_header(columns.iter().map(|c| c.header).collect::<Vec<_>>());
    for row in rows {
        table.add_row(columns.iter().map(|c| (c.cell)(row)).collect::<Vec<_>>());
    }
    table.trim_fmt()
}

/// One object as `field  value` lines, in the order given.
pub(super) fn record(fields: &[(&str, String)]) -> String {
    let mut table = plain();
    for (field, value) in fields {
        table.add_row(vec![(*field).to_string(), value.clone()]);
    }
    table.trim_fmt()
}

/// A JSON value as a cell: text as it is, `-` for nothing, a list of texts
/// joined by commas, anything else as compact JSON.
pub(super) fn cell(value: &Value) -> String {
    match value {
        Value::Null => "-".to_string(),
        Value::String(text) if text.is_empty() => "-".to_string(),
        Value::String(text) => text.clone(),
        Value::Array(items) if items.is_empty() => "-".to_string(),
        Value::Array(items) if items.iter().all(Value::is_string) => items
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(", "),
        Value::Object(map) if map.is_empty() => "-".to_string(),
        other => other.to_string(),
    }
}

/// The cell of `row[field]`.
pub(super) fn field(row: &Value, field: &str) -> String {
    cell(&row[field])
}

/// A number with at most `decimals` decimals, or `-`.
pub(super) fn number(value: &Value, decimals: usize) -> String {
    match value.as_f64() {
        Some(n) if value.is_i64() || value.is_u64() => format!("{n}"),
        Some(n) => format!("{n:.decimals$}"),
        None => "-".to_string(),
    }
}

/// The rows of a list answer: the answer itself when it is an array, else
/// the array it holds (a page: `{"items": [...], "next": ...}` or under
/// another name), with the page's `next` cursor, passed back unchanged.
pub(super) fn page(body: &Value) -> (&[Value], Option<&str>) {
    match body {
        Value::Array(items) => (items, None),
        Value::Object(map) => {
            let items = map
                .get("items")
                .and_then(Value::as_array)
                .or_else(|| map.values().find_map(Value::as_array))
                .map_or(&[][..], Vec::as_slice);
            (items, map.get("next").and_then(Value::as_str))
        }
        _ => (&[], None),
    }
}

/// The cursor of the next page: the API's `next` when it sends one; for a
/// plain list as full as asked, its last item's id (what `after` takes).
pub(super) fn next_cursor(body: &Value, limit: Option<u32>) -> Option<String> {
    let (rows, next) = page(body);
    if let Some(next) = next {
        return Some(next.to_string());
    }
    let full = limit.map_or(100, |l| l as usize);
    if body.is_array() && !rows.is_empty() && rows.len() >= full {
        return rows.last().and_then(|r| r["id"].as_str()).map(str::to_string);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cells_read_like_text() {
        assert_eq!(cell(&json!(null)), "-");
        assert_eq!(cell(&json!("")), "-");
        assert_eq!(cell(&json!("acme")), "acme");
        assert_eq!(cell(&json!(["a", "b"])), "a, b");
        assert_eq!(cell(&json!([1, 2])), "[1,2]");
        assert_eq!(cell(&json!({"kv": true})), r#"{"kv":true}"#);
        assert_eq!(cell(&json!(3)), "3");
        assert_eq!(number(&json!(0.87654), 2), "0.88");
        assert_eq!(number(&json!(12), 2), "12");
        assert_eq!(number(&json!("x"), 2), "-");
    }

    #[test]
    fn lists_have_headers_and_rows() {
        let columns = [
            column("ID", |r| field(r, "id")),
            column("NAME", |r| field(r, "name")),
        ];
        let rows = [
            json!({"id": "acme", "name": "Acme Inc."}),
            json!({"id": "b", "name": ""}),
        ];
        let text = list(&columns, &rows, "tenants");
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("ID") && lines[0].ends_with("NAME"), "{text}");
        assert!(
            lines[1].starts_with("acme") && lines[1].ends_with("Acme Inc."),
            "{text}"
        );
        assert!(lines[2].starts_with('b') && lines[2].ends_with('-'), "{text}");
        assert_eq!(list(&columns, &[], "tenants"), "no tenants");
    }

    #[test]
    fn pages_are_read_from_arrays_and_objects() {
        let array = json!([{"id": 1}]);
        assert_eq!(page(&array), (&[json!({"id": 1})][..], None));
        let paged = json!({"items": [{"id": 2}], "next": "opaque-token"});
        assert_eq!(page(&paged), (&[json!({"id": 2})][..], Some("opaque-token")));
        let named = json!({"runs": [{"id": 3}], "next": null});
        assert_eq!(page(&named), (&[json!({"id": 3})][..], None));
        assert_eq!(page(&json!(null)).0.len(), 0);
    }

    #[test]
    fn the_next_cursor_is_the_apis_or_a_full_pages_last_id() {
        let page = json!({"items": [{"id": "r2"}], "next": "opaque"});
        assert_eq!(next_cursor(&page, Some(1)).as_deref(), Some("opaque"));
        let full = json!([{"id": "r3"}, {"id": "r2"}]);
        assert_eq!(next_cursor(&full, Some(2)).as_deref(), Some("r2"));
        assert_eq!(next_cursor(&full, Some(5)), None);
        assert_eq!(next_cursor(&json!({"items": [], "next": null}), None), None);
    }
}
