//! Bar charts as inline SVG, rendered on the server: the `/stats` page needs
//! no script and no external asset, so it works from a CI runner's browser
//! behind any proxy and prints as it looks. One shape covers every chart the
//! page draws: bars (stacked when there are several series), a y axis with
//! round ticks, thinned x labels, a legend, and an optional marker per bar
//! joined into a dashed step line (the loaners' SLA allowance).

use std::fmt::Write as _;

use super::escape;

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 280.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 34.0;
const BOTTOM: f64 = 44.0;
/// Most x labels drawn; the others are thinned out (each bar keeps a tooltip).
const MAX_LABELS: usize = 14;

/// Colours for series, in order; chosen to stay apart for common colour
/// blindness and on paper.
pub const PALETTE: &[&str] = &[
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac",
];

pub struct Series {
    pub name: String,
    pub colour: String,
}

pub struct Bar {
    /// Under the bar.
    pub label: String,
    /// The tooltip.
    pub title: String,
    /// One value per series, stacked bottom up.
    pub values: Vec<f64>,
    /// A marker value (drawn as a step line across the bars).
    pub marker: Option<f64>,
}

pub struct Chart {
    /// The SVG element's id.
    pub id: String,
    pub title: String,
    /// The y axis label.
    pub unit: String,
    pub series: Vec<Series>,
    pub bars: Vec<Bar>,
    /// The marker line's legend entry.
    pub marker: Option<String>,
}

impl Chart {
    pub fn render(&self) -> String {
        let plot_w = WIDTH - LEFT - RIGHT;
        let plot_h = HEIGHT - TOP - BOTTOM;
        let top_value = self
            .bars
            .iter()
            .map(|b| {
                let stack: f64 = b.values.iter().filter(|v| v.is_finite()).sum();
                stack.max(b.marker.filter(|m| m.is_finite()).unwrap_or(0.0))
            })
            .fold(0.0_f64, f64::max);
        let (step, max) = ticks(top_value);
        let y = |v: f64| TOP + plot_h - (v / max * plot_h).clamp(0.0, plot_h);
        let mut svg = String::new();
        let _ = write!(
            svg,
            "<svg id=\"{id}\" class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" \
             width=\"{WIDTH}\" height=\"{HEIGHT}\" role=\"img\" aria-label=\"{title}\"><title>{title}</title>\
             <text x=\"{LEFT}\" y=\"18\" class=\"chart-title\" font-size=\"14\" font-weight=\"bold\">{title}</text>",
            id = escape(&self.id),
            title = escape(&self.title),
        );
        // Grid and y axis.
        let mut v = 0.0;
        for _ in 0..=10 {
            if v > max + step / 2.0 {
                break;
            }
            let _ = write!(
                svg,
                "<line x1=\"{LEFT}\" x2=\"{x2}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#e3e3e3\"/>\
                 <text x=\"{tx}\" y=\"{ty:.1}\" font-size=\"11\" text-anchor=\"end\" fill=\"#555\">{label}</text>",
                x2 = WIDTH - RIGHT,
                y = y(v),
                tx = LEFT - 6.0,
                ty = y(v) + 4.0,
                label = number(v),
            );
            v += step;
        }
        let _ = write!(
            svg,
            "<line class=\"axis\" x1=\"{LEFT}\" x2=\"{LEFT}\" y1=\"{TOP}\" y2=\"{b}\" stroke=\"#444\"/>\
             <line class=\"axis\" x1=\"{LEFT}\" x2=\"{r}\" y1=\"{b}\" y2=\"{b}\" stroke=\"#444\"/>\
             <text x=\"14\" y=\"{mid:.1}\" font-size=\"11\" fill=\"#555\" text-anchor=\"middle\" transform=\"rotate(-90 14 {mid:.1})\">{unit}</text>",
            b = TOP + plot_h,
            r = WIDTH - RIGHT,
            mid = TOP + plot_h / 2.0,
            unit = escape(&self.unit),
        );
        if self.bars.is_empty() {
            let _ = write!(
                svg,
                "<text class=\"empty\" x=\"{x:.1}\" y=\"{y:.1}\" font-size=\"13\" fill=\"#777\" text-anchor=\"middle\">nothing in this span</text>",
                x = LEFT + plot_w / 2.0,
                y = TOP + plot_h / 2.0,
            );
        }
        let n = self.bars.len().max(1) as f64;
        let slot = plot_w / n;
        let width = (slot * 0.7).max(1.0);
        let every = self.bars.len().div_ceil(MAX_LABELS).max(1);
        let mut marker_path = String::new();
        for (i, bar) in self.bars.iter().enumerate() {
            let x = LEFT + slot * i as f64 + (slot - width) / 2.0;
            let _ = write!(
                svg,
                "<g class=\"bar\"><title>{}</title>",
                escape(&bar.title)
            );
            let mut base = 0.0;
            for (value, series) in bar.values.iter().zip(&self.series) {
                if !value.is_finite() || *value <= 0.0 {
                    continue;
                }
                let (y0, y1) = (y(base), y(base + value));
                let _ = write!(
                    svg,
                    "<rect x=\"{x:.1}\" y=\"{y1:.1}\" width=\"{width:.1}\" height=\"{h:.1}\" fill=\"{c}\"/>",
                    h = (y0 - y1).max(0.5),
                    c = escape(&series.colour),
                );
                base += value;
            }
            svg.push_str("</g>");
            if let Some(m) = bar.marker.filter(|m| m.is_finite()) {
                let cmd = if marker_path.is_empty() { 'M' } else { 'L' };
                let _ = write!(
                    marker_path,
                    "{cmd}{:.1} {:.1} L{:.1} {:.1} ",
                    LEFT + slot * i as f64,
                    y(m),
                    LEFT + slot * (i as f64 + 1.0),
                    y(m)
                );
            }
            if i % every == 0 {
                let _ = write!(
                    svg,
                    "<text x=\"{cx:.1}\" y=\"{ly:.1}\" font-size=\"11\" fill=\"#333\" text-anchor=\"middle\">{}</text>",
                    escape(&bar.label),
                    cx = x + width / 2.0,
                    ly = TOP + plot_h + 16.0,
                );
            }
        }
        if !marker_path.is_empty() {
            let _ = write!(
                svg,
                "<path class=\"marker\" d=\"{}\" fill=\"none\" stroke=\"#c62828\" stroke-width=\"2\" stroke-dasharray=\"6 3\"/>",
                marker_path.trim_end()
            );
        }
        // Legend, right-aligned on the title line.
        let mut entries: Vec<(String, String, bool)> = self
            .series
            .iter()
            .map(|s| (s.name.clone(), s.colour.clone(), false))
            .collect();
        if let Some(m) = &self.marker {
            entries.push((m.clone(), "#c62828".to_string(), true));
        }
        let mut lx = WIDTH - RIGHT;
        for (name, colour, line) in entries.iter().rev() {
            let w = 18.0 + 6.5 * name.chars().count() as f64;
            lx -= w + 10.0;
            if *line {
                let _ = write!(
                    svg,
                    "<line x1=\"{lx:.1}\" x2=\"{x2:.1}\" y1=\"14\" y2=\"14\" stroke=\"{c}\" stroke-width=\"2\" stroke-dasharray=\"6 3\"/>",
                    x2 = lx + 12.0,
                    c = escape(colour)
                );
            } else {
                let _ = write!(
                    svg,
                    "<rect x=\"{lx:.1}\" y=\"8\" width=\"12\" height=\"12\" fill=\"{}\"/>",
                    escape(colour)
                );
            }
            let _ = write!(
                svg,
                "<text class=\"legend\" x=\"{tx:.1}\" y=\"18\" font-size=\"11\" fill=\"#333\">{}</text>",
                escape(name),
                tx = lx + 16.0
            );
        }
        svg.push_str("</svg>");
        svg
    }
}

/// A round tick step and the axis maximum (a multiple of it) for values up
/// to `top`: steps of 1, 2 or 5 × 10ⁿ, about five of them.
fn ticks(top: f64) -> (f64, f64) {
    if !top.is_finite() || top <= 0.0 {
        return (1.0, 4.0);
    }
    let rough = top / 5.0;
    let magnitude = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= rough)
        .unwrap_or(10.0 * magnitude);
    (step, (top / step).ceil().max(1.0) * step)
}

/// A tick label: whole numbers plain, fractions with one decimal.
fn number(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_top() {
        assert_eq!(ticks(0.0), (1.0, 4.0));
        assert_eq!(ticks(9.0), (2.0, 10.0));
        assert_eq!(ticks(41.5), (10.0, 50.0));
        let (step, max) = ticks(0.3);
        assert!((step - 0.1).abs() < 1e-12 && (max - 0.3).abs() < 1e-9);
        assert_eq!(ticks(f64::NAN), (1.0, 4.0));
    }

    #[test]
    fn renders_stacks_markers_legend_and_escapes() {
        let chart = Chart {
            id: "c".into(),
            title: "a <b> chart".into(),
            unit: "hours".into(),
            series: vec![
                Series {
                    name: "infra".into(),
                    colour: PALETTE[0].into(),
                },
                Series {
                    name: "other".into(),
                    colour: PALETTE[1].into(),
                },
            ],
            bars: vec![
                Bar {
                    label: "11-23".into(),
                    title: "week of 11-23".into(),
                    values: vec![2.0, 1.0],
                    marker: Some(4.0),
                },
                Bar {
                    label: "11-30".into(),
                    title: "week of 11-30".into(),
                    values: vec![0.0, f64::NAN],
                    marker: Some(4.0),
                },
            ],
            marker: Some("SLA".into()),
        };
        let svg = chart.render();
        assert!(svg.starts_with("<svg id=\"c\""), "{svg}");
        assert!(svg.contains("a &lt;b&gt; chart"));
        assert_eq!(svg.matches("<g class=\"bar\">").count(), 2);
        // Two stacked rects in the first bar, none in the second; two legend squares.
        assert_eq!(svg.matches("<rect").count(), 4);
        assert!(svg.contains("class=\"marker\""));
        assert!(svg.contains(">SLA</text>"));
        let empty = Chart {
            bars: vec![],
            ..chart
        };
        assert!(empty.render().contains("nothing in this span"));
    }
}
