//! Server-rendered SVG charts: decisions per minute as stacked bars by result, with axes and
//! labels. No script, no external resource: the page is whole as served.

use std::fmt::Write;

use chrono::{DateTime, Utc};

use crate::service::console::dashboard::Series;

const WIDTH: f64 = 560.0;
const HEIGHT: f64 = 200.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 24.0;

/// The colour of a result, the same in every chart and legend.
pub fn colour(result: &str) -> &'static str {
    match result {
        "ALLOWED" => "#16794c",
        "BLOCKED" => "#b42318",
        "NOT_ALLOWED" => "#e07b16",
        "EXPIRED" => "#7a5af8",
        "NO_CREDIT" => "#c11574",
        "UNKNOWN" => "#98a2b3",
        _ => "#2e90fa",
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A "nice" axis maximum at or above `max`: 1, 2 or 5 times a power of ten.
fn nice_max(max: f64) -> f64 {
    if max <= 0.0 {
        return 1.0;
    }
    let power = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|v| *v >= max)
        .unwrap_or(10.0 * power)
}

fn number(v: f64) -> String {
    if v >= 10.0 || v == v.trunc() {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// Decisions per minute in `series` as stacked bars: `buckets` bars, each bucket's counts divided
/// by its length in minutes; an x label every `label_every` buckets.
pub fn per_minute_bars(series: &Series, buckets: usize, label_every: usize, title: &str) -> String {
    let minutes = (series.bucket_secs / 60).max(1) as f64;
    let totals: Vec<f64> = (0..buckets)
        .map(|i| {
            series
                .by_result
                .values()
                .map(|c| c.get(i).copied().unwrap_or(0) as f64)
                .sum::<f64>()
                / minutes
        })
        .collect();
    let max = nice_max(totals.iter().copied().fold(0.0, f64::max));
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let bar_w = plot_w / buckets as f64;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg">"#,
        escape(title)
    );
    // Grid lines and y labels: steps of round values (a maximum of 2·10ⁿ in 4, else in 5).
    let steps = if format!("{max:e}").starts_with('2') {
        4
    } else {
        5
    };
    for step in 0..=steps {
        let value = max * step as f64 / steps as f64;
        let y = TOP + plot_h - plot_h * step as f64 / steps as f64;
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#e3e6eb"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            WIDTH - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            number(value)
        );
    }
    for i in 0..buckets {
        let x = LEFT + i as f64 * bar_w;
        let mut y = TOP + plot_h;
        for (result, counts) in &series.by_result {
            let value = counts.get(i).copied().unwrap_or(0) as f64 / minutes;
            if value <= 0.0 {
                continue;
            }
            let h = plot_h * value / max;
            y -= h;
            let _ = write!(
                svg,
                r#"<rect x="{:.1}" y="{y:.1}" width="{:.1}" height="{h:.1}" fill="{}"><title>{}: {}/min</title></rect>"#,
                x + bar_w * 0.1,
                (bar_w * 0.8).max(1.0),
                colour(result),
                escape(result),
                number(value)
            );
        }
        if i % label_every == 0 {
            let at =
                DateTime::<Utc>::from_timestamp(series.since + i as i64 * series.bucket_secs, 0)
                    .unwrap_or_default();
            let _ = write!(
                svg,
                r#"<text x="{x:.1}" y="{}">{}</text>"#,
                HEIGHT - 6.0,
                at.format("%H:%M")
            );
        }
    }
    let _ = write!(
        svg,
        r##"<line x1="{LEFT}" x2="{}" y1="{:.1}" y2="{:.1}" stroke="#98a2b3"/></svg>"##,
        WIDTH - RIGHT,
        TOP + plot_h,
        TOP + plot_h
    );
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_maxima_are_round() {
        for (max, nice) in [
            (0.0, 1.0),
            (0.3, 0.5),
            (1.0, 1.0),
            (7.0, 10.0),
            (12.0, 20.0),
            (4100.0, 5000.0),
        ] {
            assert_eq!(nice_max(max), nice, "{max}");
        }
    }

    #[test]
    fn a_chart_has_a_bar_per_counted_bucket_and_its_labels() {
        let mut series = Series {
            since: 1_800_000_000 / 60 * 60,
            bucket_secs: 60,
            by_result: Default::default(),
            total: 3,
        };
        series.by_result.insert("ALLOWED".into(), vec![2, 0, 0]);
        series.by_result.insert("BLOCKED".into(), vec![0, 1, 0]);
        let svg = per_minute_bars(&series, 3, 1, "<last hour>");
        assert_eq!(svg.matches("<rect").count(), 2);
        assert!(svg.contains("ALLOWED: 2/min") && svg.contains("BLOCKED: 1/min"));
        assert!(svg.contains("&lt;last hour&gt;"), "the title is escaped");
        assert_eq!(
            svg.matches("</text>").count(),
            5 + 3,
            "y labels and x labels"
        );
    }
}
