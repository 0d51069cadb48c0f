//! Daily line charts as SVG, drawn on the server: axes with round ticks,
//! one line per series, the shaded interval band of a series that has
//! intervals (a forecast), shaded date spans and markers on days (an
//! anomaly). Every point carries `data-series`, `data-day` and
//! `data-value` (and `data-lower`/`data-upper` in a band) with the exact
//! number it stands for, and a `<title>` a screen reader or a hover shows;
//! the chart itself is an `img` labelled by its own `<title>`/`<desc>`.
//! Colours and strokes come from the console's stylesheet, by class.

use chrono::NaiveDate;
use std::fmt::Write;

/// What a chart's values are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// An amount of money (no currency symbol: tenants mix them).
    Money,
    /// A multiple, such as ROAS.
    Ratio,
    /// A fraction shown in percent (0.0123 is 1.23%).
    Percent,
}

impl Unit {
    /// `value` as people read it in this unit.
    pub fn show(self, value: f64) -> String {
        match self {
            Self::Money => super::page::number(value),
            Self::Ratio => format!("{value:.2}×"),
            Self::Percent => format!("{}%", super::page::number(value * 100.0)),
        }
    }
}

/// One day's value, with its interval when it is a forecast.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// The day.
    pub day: NaiveDate,
    /// The value (the point forecast in a band).
    pub value: f64,
    /// The interval's lower and upper bound.
    pub interval: Option<(f64, f64)>,
}

impl Point {
    /// A plain value on `day`.
    pub fn at(day: NaiveDate, value: f64) -> Self {
        Self {
            day,
            value,
            interval: None,
        }
    }
}

/// A line of the chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// A short id (`spend`, `forecast`), in `data-series` and the CSS class.
    pub key: String,
    /// Its name for people.
    pub name: String,
    /// Its points, in day order.
    pub points: Vec<Point>,
}

/// A mark on one day of a series, such as an anomaly.
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    /// The day.
    pub day: NaiveDate,
    /// The key of the series it sits on (at that series' value that day).
    pub series: String,
    /// What it marks.
    pub label: String,
}

/// A shaded range of days, such as a comparison window.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    /// Its first day.
    pub from: NaiveDate,
    /// Its last day.
    pub to: NaiveDate,
    /// What it is.
    pub label: String,
}

/// A chart of daily values.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// Its id, unique on the page (also `data-chart`).
    pub id: String,
    /// Its title.
    pub title: String,
    /// What it shows, in a sentence.
    pub description: String,
    /// The unit of every series.
    pub unit: Unit,
    /// Its lines.
    pub series: Vec<Series>,
    /// Marks on days.
    pub markers: Vec<Marker>,
    /// Shaded ranges.
    pub spans: Vec<Span>,
}

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 240.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;
/// Labels on the day axis at most.
const DAY_LABELS: i64 = 7;

/// A linear map from a domain onto a range of pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale {
    from: f64,
    to: f64,
    start: f64,
    end: f64,
}

impl Scale {
    /// Maps `from..=to` onto `start..=end`; an empty domain maps to the
    /// middle of the range.
    pub fn new(from: f64, to: f64, start: f64, end: f64) -> Self {
        Self { from, to, start, end }
    }

    /// Where `value` lands.
    pub fn at(&self, value: f64) -> f64 {
        let span = self.to - self.from;
        if span.abs() < f64::EPSILON {
            return (self.start + self.end) / 2.0;
        }
        self.start + (value - self.from) / span * (self.end - self.start)
    }
}

/// A round top for an axis from 0 that holds `max`, and its tick step: the
/// step is 1, 2 or 5 times a power of ten, giving two to five ticks.
pub fn round_axis(max: f64) -> (f64, f64) {
    if !max.is_finite() || max <= 0.0 {
        return (1.0, 0.25);
    }
    let rough = max / 4.0;
    let power = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|step| step * 5.0 >= max)
        .unwrap_or(10.0 * power);
    let top = (max / step).ceil() * step;
    (top.max(step), step)
}

/// `text` safe inside an SVG element or attribute.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `key` as a CSS class and attribute value: letters, digits and dashes.
fn token(key: &str) -> String {
    key.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

impl Chart {
    /// The days the chart spans: from its first to its last point or span.
    fn days(&self) -> Option<(NaiveDate, NaiveDate)> {
        let days = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.day))
            .chain(self.spans.iter().flat_map(|s| [s.from, s.to]));
        days.fold(None, |range, day| match range {
            None => Some((day, day)),
            Some((first, last)) => Some((first.min(day), last.max(day))),
        })
    }

    /// The largest value drawn, interval bounds included.
    fn max_value(&self) -> f64 {
        self.series
            .iter()
            .flat_map(|s| s.points.iter())
            .map(|p| p.interval.map_or(p.value, |(_, upper)| upper.max(p.value)))
            .filter(|v| v.is_finite())
            .fold(0.0, f64::max)
    }

    /// The chart as an `<svg>` element; an empty string without points.
    pub fn svg(&self) -> String {
        let Some((first, last)) = self.days() else {
            return String::new();
        };
        let (top, step) = round_axis(self.max_value());
        let x = Scale::new(0.0, (last - first).num_days() as f64, LEFT, WIDTH - RIGHT);
        let y = Scale::new(0.0, top, HEIGHT - BOTTOM, TOP);
        let day_x = |day: NaiveDate| x.at((day - first).num_days() as f64);
        let id = token(&self.id);
        let mut svg = String::new();
        // Writing to a String cannot fail.
        let _ = write!(
            svg,
            r#"<svg class="chart" data-chart="{id}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="{id}-title {id}-desc" xmlns="http://www.w3.org/2000/svg"><title id="{id}-title">{}</title><desc id="{id}-desc">{}</desc>"#,
            escape(&self.title),
            escape(&self.description),
        );
        self.draw_axes(&mut svg, (first, last), &x, &y, (top, step));
        for span in &self.spans {
            let (from, to) = (day_x(span.from), day_x(span.to));
            let _ = write!(
                svg,
                r#"<rect class="span" data-from="{}" data-to="{}" x="{from:.1}" y="{TOP}" width="{:.1}" height="{:.1}"><title>{}</title></rect>"#,
                span.from,
                span.to,
                (to - from).max(1.0),
                HEIGHT - BOTTOM - TOP,
                escape(&format!("{}: {} to {}", span.label, span.from, span.to)),
            );
        }
        for series in &self.series {
            draw_band(&mut svg, series, &day_x, &y);
        }
        for (index, series) in self.series.iter().enumerate() {
            self.draw_series(&mut svg, index, series, &day_x, &y);
        }
        for marker in &self.markers {
            let Some(point) = self
                .series
                .iter()
                .filter(|s| s.key == marker.series)
                .flat_map(|s| s.points.iter())
                .find(|p| p.day == marker.day)
            else {
                continue;
            };
            let _ = write!(
                svg,
                r#"<g class="marker" data-series="{}" data-day="{}" data-value="{}"><title>{}</title><circle cx="{:.1}" cy="{:.1}" r="6"/></g>"#,
                token(&marker.series),
                marker.day,
                point.value,
                escape(&format!("{}: {}", marker.day, marker.label)),
                day_x(marker.day),
                y.at(point.value),
            );
        }
        svg.push_str("</svg>");
        svg
    }

    /// Grid lines with their values, day labels and the base line.
    fn draw_axes(
        &self,
        svg: &mut String,
        (first, last): (NaiveDate, NaiveDate),
        x: &Scale,
        y: &Scale,
        (top, step): (f64, f64),
    ) {
        svg.push_str(r#"<g class="axis" aria-hidden="true">"#);
        let ticks = (top / step).round() as usize;
        for i in 0..=ticks {
            let value = step * i as f64;
            let at = y.at(value);
            let _ = write!(
                svg,
                r#"<line class="grid" x1="{LEFT}" x2="{}" y1="{at:.1}" y2="{at:.1}"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
                WIDTH - RIGHT,
                LEFT - 6.0,
                at + 4.0,
                escape(&self.unit.show(value)),
            );
        }
        let days = (last - first).num_days();
        let every = (days / DAY_LABELS).max(1);
        let mut offset = 0;
        while offset <= days {
            let day = first + chrono::Duration::days(offset);
            let _ = write!(
                svg,
                r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
                x.at(offset as f64),
                HEIGHT - 8.0,
                day.format("%b %d"),
            );
            offset += every;
        }
        let _ = write!(
            svg,
            r#"<line class="base" x1="{LEFT}" x2="{}" y1="{:.1}" y2="{:.1}"/></g>"#,
            WIDTH - RIGHT,
            y.at(0.0),
            y.at(0.0),
        );
    }

    /// A series' line and its points, each with its exact value.
    fn draw_series(
        &self,
        svg: &mut String,
        index: usize,
        series: &Series,
        day_x: &dyn Fn(NaiveDate) -> f64,
        y: &Scale,
    ) {
        let key = token(&series.key);
        let points: Vec<String> = series
            .points
            .iter()
            .map(|p| format!("{:.1},{:.1}", day_x(p.day), y.at(p.value)))
            .collect();
        let _ = write!(
            svg,
            r#"<g class="series s{index} {key}" data-series="{key}"><polyline class="line" points="{}"/>"#,
            points.join(" ")
        );
        for p in &series.points {
            let (bounds, words) = match p.interval {
                Some((lower, upper)) => (
                    format!(r#" data-lower="{lower}" data-upper="{upper}""#),
                    format!(
                        " (interval {} to {})",
                        self.unit.show(lower),
                        self.unit.show(upper)
                    ),
                ),
                None => (String::new(), String::new()),
            };
            let _ = write!(
                svg,
                r#"<circle class="point" data-day="{}" data-value="{}"{bounds} cx="{:.1}" cy="{:.1}" r="2.5"><title>{}</title></circle>"#,
                p.day,
                p.value,
                day_x(p.day),
                y.at(p.value),
                escape(&format!(
                    "{} on {}: {}{words}",
                    series.name,
                    p.day,
                    self.unit.show(p.value)
                )),
            );
        }
        svg.push_str("</g>");
    }
}

/// The shaded band of a series' intervals: along the upper bounds, back
/// along the lower ones.
fn draw_band(svg: &mut String, series: &Series, day_x: &dyn Fn(NaiveDate) -> f64, y: &Scale) {
    let bounds: Vec<(NaiveDate, f64, f64)> = series
        .points
        .iter()
        .filter_map(|p| p.interval.map(|(lower, upper)| (p.day, lower, upper)))
        .collect();
    if bounds.is_empty() {
        return;
    }
    let upper = bounds.iter().map(|(d, _, u)| (day_x(*d), y.at(*u)));
    let lower = bounds.iter().rev().map(|(d, l, _)| (day_x(*d), y.at(*l)));
    let path: Vec<String> = upper
        .chain(lower)
        .enumerate()
        .map(|(i, (px, py))| format!("{}{px:.1},{py:.1}", if i == 0 { "M" } else { "L" }))
        .collect();
    let key = token(&series.key);
    let _ = write!(
        svg,
        r#"<path class="band {key}" data-series="{key}" d="{} Z"><title>{}</title></path>"#,
        path.join(" "),
        escape(&format!("{}: interval", series.name)),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        text.parse().expect("a date")
    }

    #[test]
    fn scales_map_the_domain_onto_the_range() {
        let x = Scale::new(0.0, 10.0, 60.0, 160.0);
        assert_eq!(x.at(0.0), 60.0);
        assert_eq!(x.at(10.0), 160.0);
        assert_eq!(x.at(2.5), 85.0);
        // Upside down, as the y axis is.
        let y = Scale::new(0.0, 200.0, 212.0, 12.0);
        assert_eq!(y.at(0.0), 212.0);
        assert_eq!(y.at(200.0), 12.0);
        assert_eq!(y.at(50.0), 162.0);
        assert_eq!(Scale::new(5.0, 5.0, 0.0, 100.0).at(5.0), 50.0);
    }

    #[test]
    fn axes_end_on_round_numbers_above_the_data() {
        let close = |(top, step): (f64, f64), (want_top, want_step): (f64, f64)| {
            (top - want_top).abs() < 1e-9 && (step - want_step).abs() < 1e-9
        };
        assert!(close(round_axis(87.0), (100.0, 20.0)));
        assert!(close(round_axis(100.0), (100.0, 20.0)));
        assert!(close(round_axis(1234.0), (1500.0, 500.0)));
        assert!(close(round_axis(0.031), (0.04, 0.01)), "{:?}", round_axis(0.031));
        assert_eq!(round_axis(0.0), (1.0, 0.25));
        assert_eq!(round_axis(f64::NAN), (1.0, 0.25));
        for max in [0.7, 3.0, 9.99, 42.0, 512.0, 77_777.0] {
            let (top, step) = round_axis(max);
            let ticks = top / step;
            assert!(
                top >= max && (2.0 - 1e-9..=5.0 + 1e-9).contains(&ticks),
                "{max}: {top} {step}"
            );
        }
    }

    #[test]
    fn points_carry_their_exact_values_and_text_is_escaped() {
        let chart = Chart {
            id: "meta spend".into(),
            title: "Spend <&> \"revenue\"".into(),
            description: "daily".into(),
            unit: Unit::Money,
            series: vec![
                Series {
                    key: "spend".into(),
                    name: "Spend".into(),
                    points: vec![
                        Point::at(day("2026-06-01"), 12.345),
                        Point::at(day("2026-06-03"), 0.0),
                    ],
                },
                Series {
                    key: "forecast".into(),
                    name: "Forecast".into(),
                    points: vec![Point {
                        day: day("2026-06-04"),
                        value: 20.0,
                        interval: Some((15.5, 24.5)),
                    }],
                },
            ],
            markers: vec![Marker {
                day: day("2026-06-01"),
                series: "spend".into(),
                label: "Spend spike <script>".into(),
            }],
            spans: vec![],
        };
        let svg = chart.svg();
        assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>"));
        assert!(svg.contains(r#"data-chart="meta-spend""#));
        assert!(svg.contains("Spend &lt;&amp;&gt; &quot;revenue&quot;"));
        assert!(svg.contains(r#"data-day="2026-06-01" data-value="12.345""#));
        assert!(svg.contains(r#"data-day="2026-06-04" data-value="20" data-lower="15.5" data-upper="24.5""#));
        assert!(svg.contains(r#"<path class="band forecast""#));
        assert!(svg.contains(r#"<g class="marker" data-series="spend" data-day="2026-06-01""#));
        assert!(!svg.contains("<script>"));
        // The first day sits on the left edge, the last on the right, at
        // its height on an axis up to 25 (the round top above 24.5).
        assert!(svg.contains(r#"cx="60.0" cy="#));
        let y = Scale::new(0.0, 25.0, HEIGHT - BOTTOM, TOP);
        let last = format!(r#"cx="{:.1}" cy="{:.1}" r="2.5""#, WIDTH - RIGHT, y.at(20.0));
        assert!(svg.contains(&last), "{svg}");
        assert!(svg.contains(">25</text>"));
    }

    #[test]
    fn a_chart_without_points_is_empty_and_a_marker_off_the_series_is_left_out() {
        let empty = Chart {
            id: "x".into(),
            title: "x".into(),
            description: String::new(),
            unit: Unit::Percent,
            series: vec![],
            markers: vec![],
            spans: vec![],
        };
        assert_eq!(empty.svg(), "");
        let lonely = Chart {
            series: vec![Series {
                key: "ctr".into(),
                name: "CTR".into(),
                points: vec![Point::at(day("2026-06-01"), 0.02)],
            }],
            markers: vec![Marker {
                day: day("2026-06-09"),
                series: "ctr".into(),
                label: "off".into(),
            }],
            ..empty
        };
        let svg = lonely.svg();
        assert!(!svg.contains("class=\"marker\""));
        assert!(svg.contains(">2%</text>"), "{svg}");
        assert_eq!(Unit::Percent.show(0.0123), "1.23%");
        assert_eq!(Unit::Ratio.show(2.5), "2.50×");
    }
}
