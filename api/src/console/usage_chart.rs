//! A bar chart of fuel per day against a daily quota, laid out here and
//! drawn as SVG by the usage page's template: numbers in, coordinates out,
//! so that the template only places shapes (and escapes every text).

/// The drawing's size, in SVG user units.
const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 240.0;

/// Room for the axis labels on the left and the day labels below.
const LEFT: f64 = 64.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 28.0;

/// A day's label is written under every this many bars.
const LABEL_EVERY: usize = 5;

/// One bar.
pub struct Bar {
    /// Left edge.
    pub x: String,
    /// Top edge.
    pub y: String,
    /// Width.
    pub width: String,
    /// Height.
    pub height: String,
    /// The day, `YYYY-MM-DD`.
    pub day: String,
    /// The fuel of the day.
    pub fuel: u64,
    /// Whether it reached the quota.
    pub over: bool,
    /// The label under it (`MM-DD`), on some bars.
    pub label: Option<String>,
    /// The label's centre.
    pub label_x: String,
}

/// The laid-out chart.
pub struct FuelChart {
    /// The `viewBox` width.
    pub width: String,
    /// The `viewBox` height.
    pub height: String,
    /// The plot's left edge (the axis).
    pub left: String,
    /// The plot's right edge.
    pub right: String,
    /// The plot's top (where `top_value` is).
    pub top: String,
    /// The baseline (zero).
    pub baseline: String,
    /// Where the day labels are written.
    pub label_y: String,
    /// The value at the top of the plot.
    pub top_value: u64,
    /// It, short enough for the axis (`1.4G`).
    pub top_label: String,
    /// The bars, oldest day first.
    pub bars: Vec<Bar>,
    /// The quota's line height, when there is a quota.
    pub quota_y: Option<String>,
    /// The quota.
    pub quota: Option<u64>,
    /// A sentence for screen readers.
    pub summary: String,
}

/// `value` in at most four or five characters, for an axis label.
fn compact(value: u64) -> String {
    let units = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")];
    match units.iter().find(|(size, _)| value as f64 >= *size) {
        Some((size, unit)) => format!(
            "{}{unit}",
            super::page::number((value as f64 / size * 10.0).round() / 10.0)
        ),
        None => value.to_string(),
    }
}

/// A coordinate as SVG takes it.
fn at(value: f64) -> String {
    format!("{value:.1}")
}

/// Lay out `days` (day and fuel, oldest first) against `quota`.
pub fn fuel_chart(days: &[(String, u64)], quota: Option<u64>) -> FuelChart {
    let most = days.iter().map(|(_, fuel)| *fuel).max().unwrap_or(0);
    // Room above the highest bar or the quota line, whichever is higher.
    let highest = most.max(quota.unwrap_or(0));
    let top_value = highest.saturating_add(highest / 10).max(1);
    let plot_width = WIDTH - LEFT - RIGHT;
    let plot_height = HEIGHT - TOP - BOTTOM;
    let baseline = TOP + plot_height;
    let y_of = |value: u64| baseline - value as f64 / top_value as f64 * plot_height;
    let slot = plot_width / days.len().max(1) as f64;
    let bars = days
        .iter()
        .enumerate()
        .map(|(i, (day, fuel))| {
            let x = LEFT + i as f64 * slot + slot * 0.15;
            let y = y_of(*fuel);
            let last = i + 1 == days.len();
            Bar {
                x: at(x),
                y: at(y),
                width: at(slot * 0.7),
                height: at(baseline - y),
                day: day.clone(),
                fuel: *fuel,
                over: quota.is_some_and(|quota| *fuel >= quota),
                label: ((days.len() - 1 - i).is_multiple_of(LABEL_EVERY) || last)
                    .then(|| day.get(5..).unwrap_or(day).to_string()),
                label_x: at(LEFT + i as f64 * slot + slot / 2.0),
            }
        })
        .collect::<Vec<_>>();
    let over = bars.iter().filter(|bar| bar.over).count();
    let summary = match quota {
        Some(quota) => format!(
            "Fuel per day over {} days against the quota of {quota} a day; {over} days reached it.",
            days.len()
        ),
        None => format!(
            "Fuel per day over {} days; the tenant has no daily fuel quota.",
            days.len()
        ),
    };
    FuelChart {
        width: at(WIDTH),
        height: at(HEIGHT),
        left: at(LEFT),
        right: at(WIDTH - RIGHT),
        top: at(TOP),
        baseline: at(baseline),
        label_y: at(baseline + 18.0),
        top_value,
        top_label: compact(top_value),
        bars,
        quota_y: quota.map(|quota| at(y_of(quota))),
        quota,
        summary,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn days(fuel: &[u64]) -> Vec<(String, u64)> {
        fuel.iter()
            .enumerate()
            .map(|(i, fuel)| (format!("2026-01-{:02}", i + 1), *fuel))
            .collect()
    }

    #[test]
    fn bars_scale_to_the_higher_of_the_quota_and_the_most_fuel() {
        let chart = fuel_chart(&days(&[0, 50, 100]), Some(200));
        assert_eq!(chart.top_value, 220);
        let heights: Vec<f64> = chart
            .bars
            .iter()
            .map(|bar| bar.height.parse().expect("a number"))
            .collect();
        assert_eq!(heights[0], 0.0);
        assert!((heights[2] - 2.0 * heights[1]).abs() < 0.2, "{heights:?}");
        let quota_y: f64 = chart
            .quota_y
            .as_deref()
            .map_or(0.0, |y| y.parse().expect("a number"));
        let top_of_third: f64 = chart.bars[2].y.parse().expect("a number");
        assert!(quota_y < top_of_third, "the quota is above a bar of half of it");
        assert!(chart.bars.iter().all(|bar| !bar.over));
    }

    #[test]
    fn axis_labels_are_short() {
        assert_eq!(compact(999), "999");
        assert_eq!(compact(1_500), "1.5k");
        assert_eq!(compact(1_427_982_413), "1.4G");
        assert_eq!(compact(20_000_000), "20M");
    }

    #[test]
    fn days_that_reach_the_quota_are_marked() {
        let chart = fuel_chart(&days(&[10, 300, 200]), Some(200));
        let over: Vec<bool> = chart.bars.iter().map(|bar| bar.over).collect();
        assert_eq!(over, [false, true, true]);
        assert!(chart.summary.contains("2 days reached it"), "{}", chart.summary);
        assert_eq!(chart.top_value, 330);
    }

    #[test]
    fn no_usage_and_no_quota_still_draws() {
        let chart = fuel_chart(&days(&[0, 0]), None);
        assert_eq!(chart.top_value, 1);
        assert!(chart.quota_y.is_none());
        assert_eq!(chart.bars[1].label.as_deref(), Some("01-02"));
        assert!(fuel_chart(&[], None).bars.is_empty());
    }
}
