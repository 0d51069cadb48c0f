//! The insights page's figures: stored records and insights turned into
//! chart series (per platform spend, revenue and ROAS with anomalies, the
//! forecasts with their intervals, comparison periods).

use super::{CAMPAIGN_DAYS, ChartView, PlatformView, Stored};
use crate::console::chart::{Chart, Marker, Point, Series, Span, Unit};
use crate::console::page::number;
use chrono::NaiveDate;
use serde_json::Value;
use std::collections::BTreeMap;

/// A day's figures of one platform.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct Day {
    pub(super) spend: f64,
    pub(super) value: f64,
    pub(super) impressions: f64,
    pub(super) clicks: f64,
}

/// A stream's records summed per day, and whether reading stopped early.
pub(super) struct Daily {
    pub(super) days: BTreeMap<NaiveDate, Day>,
    pub(super) truncated: bool,
}

/// A number field, also when sent as a numeric string.
pub(super) fn figure(record: &Value, field: &str) -> Option<f64> {
    match record.get(field)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|n: &f64| n.is_finite())
}

/// The day of a `date` field (`2026-06-30`, or a timestamp starting so).
pub(super) fn day_of(value: &Value) -> Option<NaiveDate> {
    let text = value.as_str()?;
    text.get(..10)?.parse().ok()
}

/// The spend-anomaly insights' days, per connector.
pub(super) fn anomalies(insights: &[Stored]) -> Vec<(String, NaiveDate, String)> {
    insights
        .iter()
        .filter(|i| i.kind == "spend-anomaly")
        .filter_map(|i| {
            let connector = i.data.get("connector")?.as_str()?.to_string();
            let day = i.data.get("date").and_then(day_of)?;
            Some((connector, day, i.title.clone()))
        })
        .collect()
}

/// The spend, revenue and ROAS charts of one platform over `from..=to`.
pub(super) fn platform_section(
    connector: &str,
    daily: &Daily,
    from: NaiveDate,
    to: NaiveDate,
    anomalies: &[(String, NaiveDate, String)],
) -> PlatformView {
    let shown: Vec<(NaiveDate, Day)> = daily.days.range(from..=to).map(|(d, m)| (*d, *m)).collect();
    let series = |key: &str, name: &str, pick: fn(&Day) -> Option<f64>| Series {
        key: key.into(),
        name: name.into(),
        points: shown
            .iter()
            .filter_map(|(day, m)| pick(m).map(|v| Point::at(*day, v)))
            .collect(),
    };
    let money = Chart {
        id: format!("{connector}-spend"),
        title: format!("{connector}: daily spend and revenue"),
        description: format!(
            "Daily spend and conversion value of {connector}'s campaigns from {from} to {to}, summed from \
             the synced {CAMPAIGN_DAYS} records; anomalies the analytics agent flagged are marked."
        ),
        unit: Unit::Money,
        series: vec![
            series("spend", "Spend", |m| Some(m.spend)),
            series("revenue", "Revenue (conversion value)", |m| Some(m.value)),
        ],
        markers: anomalies
            .iter()
            .filter(|(c, day, _)| c == connector && (from..=to).contains(day))
            .map(|(_, day, title)| Marker {
                day: *day,
                series: "spend".into(),
                label: title.clone(),
            })
            .collect(),
        spans: vec![],
    };
    let roas = Chart {
        id: format!("{connector}-roas"),
        title: format!("{connector}: daily ROAS"),
        description: format!("Conversion value per unit of spend of {connector}, per day with spend."),
        unit: Unit::Ratio,
        series: vec![series("roas", "ROAS", |m| {
            (m.spend > 0.0).then(|| m.value / m.spend)
        })],
        markers: vec![],
        spans: vec![],
    };
    let (spend, value) = shown
        .iter()
        .fold((0.0, 0.0), |(s, v), (_, m)| (s + m.spend, v + m.value));
    let summary = format!(
        "{} days to {to}: spend {}, revenue {}, ROAS {}",
        shown.len(),
        number(spend),
        number(value),
        if spend > 0.0 {
            number(value / spend)
        } else {
            "–".into()
        }
    );
    PlatformView {
        connector: connector.to_string(),
        summary,
        truncated: daily.truncated,
        charts: vec![
            ChartView::of("Spend and revenue", &money),
            ChartView::of("ROAS", &roas),
        ],
    }
}

/// The forecast of `part` (`spend` or `revenue`) as a series with intervals.
pub(super) fn forecast_series(forecast: &Value, part: &str) -> Option<Series> {
    let days = forecast.get(part)?.get("days")?.as_array()?;
    let points = days
        .iter()
        .filter_map(|d| {
            Some(Point {
                day: d.get("date").and_then(day_of)?,
                value: figure(d, "point")?,
                interval: Some((figure(d, "lower")?, figure(d, "upper")?)),
            })
        })
        .collect::<Vec<_>>();
    let level = figure(forecast, "level").map_or("90".to_string(), |l| number(l * 100.0));
    (!points.is_empty()).then(|| Series {
        key: "forecast".into(),
        name: format!("Forecast ({level}% interval)"),
        points,
    })
}

/// The store revenue per day of the blended-metrics table.
pub(super) fn store_revenue(blended: &Value) -> Vec<Point> {
    let Some(table) = blended.get("daily") else {
        return Vec::new();
    };
    let columns: Vec<&str> = table
        .get("columns")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let (Some(date), Some(revenue)) = (
        columns.iter().position(|c| *c == "date"),
        columns.iter().position(|c| *c == "store_revenue"),
    ) else {
        return Vec::new();
    };
    table
        .get("rows")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|row| {
            Some(Point::at(
                row.get(date).and_then(day_of)?,
                row.get(revenue)?.as_f64()?,
            ))
        })
        .collect()
}

/// The forecast charts: total ad spend (the platforms' sum) and store
/// revenue, each with the days before it and its interval band.
pub(super) fn forecast_section(insights: &[Stored], total: &[Point]) -> Vec<ChartView> {
    let Some(forecast) = insights.iter().find(|i| i.kind == "forecast") else {
        return Vec::new();
    };
    let mut charts = Vec::new();
    if let Some(ahead) = forecast_series(&forecast.data, "spend") {
        let chart = Chart {
            id: "total-spend".into(),
            title: "Total ad spend and its forecast".into(),
            description: format!(
                "Daily ad spend of every platform together, then the analytics agent's forecast from {} \
                 with its interval.",
                ahead.points[0].day
            ),
            unit: Unit::Money,
            series: vec![
                Series {
                    key: "spend".into(),
                    name: "Total ad spend".into(),
                    points: total.to_vec(),
                },
                ahead,
            ],
            markers: vec![],
            spans: vec![],
        };
        charts.push(ChartView::of("Total ad spend", &chart));
    }
    if let Some(ahead) = forecast_series(&forecast.data, "revenue") {
        let actual = insights
            .iter()
            .find(|i| i.kind == "blended-metrics")
            .map(|i| store_revenue(&i.data))
            .unwrap_or_default();
        let chart = Chart {
            id: "store-revenue".into(),
            title: "Store revenue and its forecast".into(),
            description: "Daily store revenue as the analytics agent counted it, then its forecast with \
                          its interval."
                .into(),
            unit: Unit::Money,
            series: vec![
                Series {
                    key: "revenue".into(),
                    name: "Store revenue".into(),
                    points: actual,
                },
                ahead,
            ],
            markers: vec![],
            spans: vec![],
        };
        charts.push(ChartView::of("Store revenue", &chart));
    }
    charts
}

/// A comparison period of a fatigue insight as a shaded span.
pub(super) fn period(data: &Value, name: &str, label: &str) -> Option<Span> {
    let period = data.get(name)?;
    Some(Span {
        from: period.get("from").and_then(day_of)?,
        to: period.get("to").and_then(day_of)?,
        label: label.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_blended_table_gives_store_revenue_by_day() {
        let blended = json!({"daily": {"columns": ["date", "spend", "store_revenue"],
            "rows": [["2026-06-01", 10.0, 55.5], ["2026-06-02", 12.0, null], ["bad", 1.0, 2.0]]}});
        let points = store_revenue(&blended);
        assert_eq!(points, vec![Point::at("2026-06-01".parse().expect("date"), 55.5)]);
        assert!(store_revenue(&json!({})).is_empty());
    }

    #[test]
    fn forecasts_keep_their_intervals() {
        let forecast = json!({"level": 0.9, "spend": {"days": [
            {"date": "2026-07-01", "point": 100.0, "lower": 80.0, "upper": 120.0},
            {"date": "2026-07-02", "point": 101.0}
        ]}});
        let series = forecast_series(&forecast, "spend").expect("a series");
        assert_eq!(series.points.len(), 1);
        assert_eq!(series.points[0].interval, Some((80.0, 120.0)));
        assert_eq!(series.name, "Forecast (90% interval)");
        assert!(forecast_series(&forecast, "revenue").is_none());
    }

    #[test]
    fn fields_are_read_leniently() {
        assert_eq!(day_of(&json!("2026-06-30T10:00:00Z")), "2026-06-30".parse().ok());
        assert_eq!(day_of(&json!(20260630)), None);
        assert_eq!(figure(&json!({"spend": "12.5"}), "spend"), Some(12.5));
        assert_eq!(figure(&json!({"spend": "n/a"}), "spend"), None);
    }
}
