//! Charts as server-rendered SVG: a line over an area for a daily series and
//! horizontal bars for a breakdown. Values arrive as exact nanodollars; floats
//! are used only for geometry. Each point or bar has a `<title>` with its
//! exact value (the browser's hover tip); `viewBox` makes them scale from a
//! phone to a laptop.

use maud::{html, Markup};
use spendlens_domain::money::{display_usd, display_usd_compact, format_usd};

const W: f64 = 720.0;
const H: f64 = 240.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;

/// A round step for about four grid lines up to `max` (1, 2 or 5 × 10ⁿ nanodollars).
fn nice_step(max: i128) -> i128 {
    let rough = (max / 4).max(1);
    let mut unit: i128 = 1;
    while unit * 10 <= rough {
        unit *= 10;
    }
    [1, 2, 5, 10]
        .into_iter()
        .map(|m| m * unit)
        .find(|s| *s >= rough)
        .unwrap_or(unit * 10)
}

/// A daily series of money: `(date, nanodollars)` in order.
pub fn line(name: &str, points: &[(String, i128)]) -> Markup {
    let max = points.iter().map(|p| p.1).max().unwrap_or(0).max(1);
    let step = nice_step(max);
    let top = (max + step - 1) / step * step;
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let n = points.len().max(1);
    let x = |i: usize| {
        LEFT + if n == 1 {
            pw / 2.0
        } else {
            pw * i as f64 / (n - 1) as f64
        }
    };
    let y = |v: i128| TOP + ph - ph * (v as f64 / top as f64);
    let path: String = points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            format!(
                "{}{:.1},{:.1}",
                if i == 0 { "M" } else { "L" },
                x(i),
                y(p.1)
            )
        })
        .collect();
    let area = format!(
        "{path}L{:.1},{:.1}L{:.1},{:.1}Z",
        x(n - 1),
        y(0),
        x(0),
        y(0)
    );
    let ticks: Vec<i128> = (0..=top / step).map(|k| k * step).collect();
    let every = n.div_ceil(7).max(1);
    let slot = pw / n as f64;
    html! {
        svg.chart viewBox=(format!("0 0 {W} {H}")) role="img" aria-label=(name) {
            title { (name) }
            @for t in &ticks {
                line.grid-line x1=(LEFT) x2=(W - RIGHT) y1=(format!("{:.1}", y(*t))) y2=(format!("{:.1}", y(*t))) {}
                text x=(LEFT - 6.0) y=(format!("{:.1}", y(*t) + 4.0)) text-anchor="end" { (display_usd_compact(*t)) }
            }
            @for (i, p) in points.iter().enumerate() {
                @if i % every == 0 || i == n - 1 && n > 1 && (n - 1) % every > every / 2 {
                    @let anchor = if i == 0 && n > 1 { "start" } else if i == n - 1 && n > 1 { "end" } else { "middle" };
                    text x=(format!("{:.1}", x(i))) y=(H - 8.0) text-anchor=(anchor) { (p.0.get(5..).unwrap_or(&p.0)) }
                }
            }
            path.area d=(area) {}
            path.line d=(path) {}
            @for (i, p) in points.iter().enumerate() {
                g {
                    title { (p.0) ": " (display_usd(p.1)) " (exactly " (format_usd(p.1)) " USD)" }
                    rect x=(format!("{:.1}", x(i) - slot / 2.0)) y=(TOP) width=(format!("{:.1}", slot)) height=(ph) fill="transparent" {}
                    circle.dot cx=(format!("{:.1}", x(i))) cy=(format!("{:.1}", y(p.1))) r="3.5" {}
                }
            }
        }
    }
}

/// One bar: its label, exact value, a note (its share), and where it leads.
pub struct Bar {
    pub label: String,
    pub value: i128,
    pub note: String,
    pub href: Option<String>,
}

/// Horizontal bars, largest first as given: each row its label and value
/// above a full-width bar, so long names stay readable on a phone.
pub fn bars(name: &str, items: &[Bar]) -> Markup {
    const BW: f64 = 480.0;
    const ROW: f64 = 38.0;
    let h = ROW * items.len().max(1) as f64;
    let max = items.iter().map(|b| b.value).max().unwrap_or(0).max(1);
    html! {
        svg.chart.bars viewBox=(format!("0 0 {BW} {h}")) role="img" aria-label=(name) {
            title { (name) }
            @for (i, b) in items.iter().enumerate() {
                @let y = ROW * i as f64;
                @let width = (BW * (b.value as f64 / max as f64)).max(if b.value > 0 { 2.0 } else { 0.0 });
                @let body = html! {
                    title { (b.label) ": " (display_usd(b.value)) " (exactly " (format_usd(b.value)) " USD) · " (b.note) }
                    // The whole row is the link's (and the hover title's) target.
                    rect x="0" y=(format!("{y:.1}")) width=(BW) height=(ROW) fill="transparent" {}
                    text.bar-label x="0" y=(format!("{:.1}", y + 14.0)) { (short(&b.label, 34)) }
                    text x=(BW) y=(format!("{:.1}", y + 14.0)) text-anchor="end" { (display_usd(b.value)) " · " (b.note) }
                    rect.bar-bg x="0" y=(format!("{:.1}", y + 20.0)) width=(BW) height="12" rx="3" {}
                    rect.bar x="0" y=(format!("{:.1}", y + 20.0)) width=(format!("{width:.1}")) height="12" rx="3" {}
                };
                @if let Some(href) = &b.href { a href=(href) { (body) } } @else { g { (body) } }
            }
        }
    }
}

/// At most `n` characters, with an ellipsis when cut.
fn short(text: &str, n: usize) -> String {
    if text.chars().count() <= n {
        text.to_owned()
    } else {
        let mut s: String = text.chars().take(n - 1).collect();
        s.push('…');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_round_and_cover_the_maximum() {
        assert_eq!(nice_step(1), 1);
        assert_eq!(nice_step(1_000_000_000_000), 500_000_000_000);
        assert_eq!(nice_step(700_000_000), 200_000_000);
        assert!(nice_step(123_456_789) * 4 >= 123_456_789);
    }

    #[test]
    fn every_point_has_an_exact_hover_title() {
        let svg = line(
            "cost",
            &[
                ("2026-11-01".into(), 1_500_000_000),
                ("2026-11-02".into(), 1),
            ],
        )
        .into_string();
        assert!(
            svg.contains("2026-11-01: $1.50 (exactly 1.500000000 USD)"),
            "{svg}"
        );
        assert!(
            svg.contains("2026-11-02: $0.0000 (exactly 0.000000001 USD)"),
            "{svg}"
        );
        assert!(svg.contains("viewBox=\"0 0 720 240\""));
    }

    #[test]
    fn bars_link_and_label() {
        let svg = bars(
            "models",
            &[Bar {
                label: "a-very-long-model-name-that-goes-on-and-on".into(),
                value: 2_000_000_000,
                note: "60%".into(),
                href: Some("/x".into()),
            }],
        )
        .into_string();
        assert!(svg.contains("href=\"/x\""));
        assert!(svg.contains("a-very-long-model-name-that-goes-…"));
        assert!(svg.contains("$2.00 · 60%"));
    }
}
