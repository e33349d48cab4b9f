//! The topic map as a standalone SVG: one `<circle>` per paper coloured by
//! its broad topic (outliers grey) with the paper's title, topic and
//! subtopic as a hover tooltip, each topic's label just above its papers
//! (white halo, moved to avoid overlapping other labels and covering
//! points), smaller subtopic labels wherever they fit without overlapping
//! another label, and a legend. Point size and opacity shrink with the
//! number of papers so that 60 and 10,000 papers both read well; from
//! [`DENSITY_FROM`] papers on, a density view of coloured cells replaces
//! the circles so that a million papers still make a file of a few MB.

use std::fmt::Write;

use super::TopicModel;
use crate::markup::escape;
use crate::wording::count;
use crate::{Error, Result};

const MAP_W: f32 = 960.0;
const MAP_H: f32 = 720.0;
const LEGEND_W: f32 = 340.0;
const MARGIN: f32 = 24.0;
const LEGEND_ROW: f32 = 18.0;
const OUTLIER_COLOUR: &str = "#a3a3a3";
const PALETTE: [&str; 20] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf",
    "#bcbd22", "#393b79", "#637939", "#ad494a", "#7b4173", "#3182bd", "#e6550d", "#31a354",
    "#756bb1", "#8ca252", "#ce6dbd", "#6baed6",
];
/// Longest label drawn on the map; the legend shows a little more.
const MAP_LABEL_CHARS: usize = 32;
/// Subtopic labels are shorter and smaller than topic labels.
const SUB_LABEL_CHARS: usize = 24;
/// Font sizes of topic and subtopic labels, in pixels.
const TOPIC_FONT: f32 = 13.0;
const SUB_FONT: f32 = 9.0;
/// From this many papers on, the map draws a density view (one square per
/// cell of [`CELL`] pixels, coloured by its most common topic, more opaque
/// where papers are denser) instead of one circle per paper, so the file
/// stays small: at most (960 / 4) × (720 / 4) = 43,200 cells.
pub const DENSITY_FROM: usize = 20_000;
const CELL: f32 = 4.0;
/// Label placement counts covered points over at most this many papers.
const LABEL_POINTS: usize = 20_000;
const LEGEND_LABEL_CHARS: usize = 40;

/// The colour of topic `t`: a fixed palette, then hues spaced by the golden
/// angle.
pub(crate) fn colour(t: usize) -> String {
    match PALETTE.get(t) {
        Some(c) => (*c).to_string(),
        None => format!("hsl({:.0},62%,42%)", (t as f32 * 137.508) % 360.0),
    }
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let cut: String = text.chars().take(max.saturating_sub(1)).collect();
        format!("{}…", cut.trim_end())
    }
}

/// Checks that `points` and `titles` hold one entry per paper of `model`.
pub(crate) fn check_lengths(
    model: &TopicModel,
    points: &[[f32; 2]],
    titles: &[String],
) -> Result<()> {
    let n = model.assignments.len();
    for (field, len) in [("map points", points.len()), ("titles", titles.len())] {
        if len != n {
            return Err(Error::LengthMismatch {
                field,
                expected: n,
                received: len,
            });
        }
    }
    if let Some(i) = points
        .iter()
        .position(|p| !(p[0].is_finite() && p[1].is_finite()))
    {
        return Err(Error::InvalidVectors {
            problem: format!("map point {i} is not finite"),
            fix: "compute the points with layout_2d".into(),
        });
    }
    Ok(())
}

/// Draws the map. `points` and `titles` hold one entry per paper, in the
/// order the papers were given to [`find_topics`](super::find_topics).
pub fn render_svg(model: &TopicModel, points: &[[f32; 2]], titles: &[String]) -> Result<String> {
    check_lengths(model, points, titles)?;
    let n = points.len();
    let screen = to_screen(points);
    let radius = (6.0 * (61.0 / n.max(1) as f32).powf(0.3)).clamp(1.2, 6.0);
    let opacity = if n <= 200 {
        0.85
    } else {
        (0.85 * (200.0 / n as f32).powf(0.2)).max(0.4)
    };
    let legend_rows = model.topics.len() + usize::from(!model.outliers.is_empty());
    let height = MAP_H.max(MARGIN * 3.0 + LEGEND_ROW * (legend_rows as f32 + 3.0));
    let width = MAP_W + LEGEND_W;

    let mut s = String::with_capacity(200 + n.min(DENSITY_FROM) * 120);
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {width:.0} {height:.0}\" font-family=\"Helvetica, Arial, sans-serif\">"
    );
    let _ = writeln!(
        s,
        "<title>Topic map: {}, {}</title>",
        count(n, "paper"),
        count(model.topics.len(), "topic")
    );
    s.push_str("<style>\n");
    let _ = writeln!(
        s,
        "circle{{fill-opacity:{opacity:.2};stroke:#fff;stroke-width:{:.2}px}}",
        (radius * 0.15).min(0.6)
    );
    let _ = writeln!(s, ".o{{fill:{OUTLIER_COLOUR}}}");
    for t in 0..model.topics.len() {
        let _ = writeln!(s, ".t{t}{{fill:{}}}", colour(t));
    }
    s.push_str(
        ".lbl{font-size:13px;font-weight:600;fill:#1a1a1a;text-anchor:middle;\
         dominant-baseline:middle;paint-order:stroke;stroke:#fff;stroke-width:4px;\
         stroke-linejoin:round;pointer-events:none}\n\
         .sub{font-size:9px;fill:#333;text-anchor:middle;dominant-baseline:middle;\
         paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round;\
         pointer-events:none}\n\
         .leg{font-size:12px;fill:#1a1a1a;dominant-baseline:middle}\n\
         .head{font-size:14px;font-weight:600;fill:#1a1a1a}\n",
    );
    s.push_str("</style>\n");
    let _ = writeln!(
        s,
        "<rect x=\"0\" y=\"0\" width=\"{width:.0}\" height=\"{height:.0}\" fill=\"#fff\"/>"
    );

    if n < DENSITY_FROM {
        // Points: outliers first so that topics draw over them.
        s.push_str("<g class=\"points\">\n");
        let mut order: Vec<usize> = (0..n).filter(|&i| model.assignments[i].outlier).collect();
        order.extend((0..n).filter(|&i| !model.assignments[i].outlier));
        for i in order {
            let a = &model.assignments[i];
            let (class, topic_label) = match (a.outlier, a.topic) {
                (false, Some(t)) => {
                    let topic = &model.topics[t];
                    let label = match a.subtopic.and_then(|sub| topic.subtopics.get(sub)) {
                        Some(sub) => format!("{} / {}", topic.label, sub.label),
                        None => topic.label.clone(),
                    };
                    (format!("t{t}"), label)
                }
                _ => ("o".to_string(), "outlier".to_string()),
            };
            let _ = writeln!(
                s,
                "<circle class=\"{class}\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"{radius:.1}\"><title>{} ({})</title></circle>",
                screen[i][0],
                screen[i][1],
                escape(&titles[i]),
                escape(&topic_label)
            );
        }
        s.push_str("</g>\n");
    } else {
        density(&mut s, model, &screen);
    }

    // Labels: topics large, then subtopics small where they fit.
    s.push_str("<g class=\"labels\">\n");
    let topic_items: Vec<(String, &[usize])> = model
        .topics
        .iter()
        .map(|t| (shorten(&t.label, MAP_LABEL_CHARS), t.members.as_slice()))
        .collect();
    let sub_items: Vec<(String, &[usize])> = model
        .topics
        .iter()
        .flat_map(|t| &t.subtopics)
        .map(|t| (shorten(&t.label, SUB_LABEL_CHARS), t.members.as_slice()))
        .collect();
    let mut placed = Vec::new();
    for (i, (x, y)) in place_labels(&topic_items, &screen, TOPIC_FONT, &mut placed, false) {
        let _ = writeln!(
            s,
            "<text class=\"lbl\" x=\"{x:.1}\" y=\"{y:.1}\">{}</text>",
            escape(&topic_items[i].0)
        );
    }
    for (i, (x, y)) in place_labels(&sub_items, &screen, SUB_FONT, &mut placed, true) {
        let _ = writeln!(
            s,
            "<text class=\"sub\" x=\"{x:.1}\" y=\"{y:.1}\">{}</text>",
            escape(&sub_items[i].0)
        );
    }
    s.push_str("</g>\n");

    // Legend.
    let x0 = MAP_W + 8.0;
    let mut y = MARGIN + 6.0;
    s.push_str("<g class=\"legend\">\n");
    let _ = writeln!(
        s,
        "<text class=\"head\" x=\"{x0:.0}\" y=\"{y:.0}\">Topics</text>"
    );
    y += LEGEND_ROW * 1.2;
    let rows = model
        .topics
        .iter()
        .map(|t| (format!("t{}", t.id), t.label.as_str(), t.size))
        .chain(
            (!model.outliers.is_empty())
                .then(|| ("o".to_string(), "outliers", model.outliers.len())),
        );
    for (class, label, size) in rows {
        let _ = writeln!(
            s,
            "<rect class=\"{class}\" x=\"{x0:.0}\" y=\"{:.1}\" width=\"12\" height=\"12\"/>\
             <text class=\"leg\" x=\"{:.0}\" y=\"{y:.1}\">{} ({size})</text>",
            y - 6.0,
            x0 + 18.0,
            escape(&shorten(label, LEGEND_LABEL_CHARS))
        );
        y += LEGEND_ROW;
    }
    let _ = writeln!(
        s,
        "<text class=\"leg\" x=\"{x0:.0}\" y=\"{:.1}\" fill-opacity=\"0.7\">{} · {} · {}</text>",
        y + LEGEND_ROW * 0.5,
        count(n, "paper"),
        count(model.topics.len(), "topic"),
        count(model.outliers.len(), "outlier")
    );
    s.push_str("</g>\n</svg>\n");
    Ok(s)
}

/// Maps layout coordinates into the map area, keeping the aspect ratio.
fn to_screen(points: &[[f32; 2]]) -> Vec<[f32; 2]> {
    let (mut lo, mut hi) = ([f32::INFINITY; 2], [f32::NEG_INFINITY; 2]);
    for p in points {
        for d in 0..2 {
            lo[d] = lo[d].min(p[d]);
            hi[d] = hi[d].max(p[d]);
        }
    }
    let span = [(hi[0] - lo[0]).max(1e-6), (hi[1] - lo[1]).max(1e-6)];
    let scale = ((MAP_W - 2.0 * MARGIN) / span[0]).min((MAP_H - 2.0 * MARGIN) / span[1]);
    let off = [
        (MAP_W - span[0] * scale) / 2.0,
        (MAP_H - span[1] * scale) / 2.0,
    ];
    points
        .iter()
        .map(|p| {
            [
                off[0] + (p[0] - lo[0]) * scale,
                // Flip y so that "up" in the layout is up on screen.
                MAP_H - off[1] - (p[1] - lo[1]) * scale,
            ]
        })
        .collect()
}

/// Label positions for `items` (text, members): each label just above the
/// upper part of its papers (their median x, their 15th-percentile y), then
/// moved in steps of one line (and half a label sideways) to the nearby spot
/// that overlaps the fewest labels in `placed` and covers the fewest points.
/// Items come largest first. With `only_clear`, a label that would overlap
/// an earlier one is left out. Returns (item index, position) pairs and adds
/// each label's box to `placed`.
fn place_labels(
    items: &[(String, &[usize])],
    screen: &[[f32; 2]],
    font: f32,
    placed: &mut Vec<[f32; 4]>,
    only_clear: bool,
) -> Vec<(usize, (f32, f32))> {
    /// Cost of covering one point, in square pixels of label overlap.
    const POINT_COST: f32 = 40.0;
    let line = font * 1.35;
    let step = screen.len().div_ceil(LABEL_POINTS).max(1);
    let probe: Vec<[f32; 2]> = screen.iter().step_by(step).copied().collect();
    let point_cost = POINT_COST * step as f32;
    let mut out = Vec::new();
    for (index, (text, members)) in items.iter().enumerate() {
        if members.is_empty() {
            continue;
        }
        let quantile = |d: usize, q: f32| {
            let mut v: Vec<f32> = members.iter().map(|&i| screen[i][d]).collect();
            v.sort_by(f32::total_cmp);
            v[((v.len() - 1) as f32 * q).round() as usize]
        };
        let (cx, cy) = (quantile(0, 0.5), quantile(1, 0.15) - line);
        let chars = text.chars().count() as f32;
        let w = chars * font * 0.64 + 8.0;
        let boxed = |x: f32, y: f32| [x - w / 2.0, y - line / 2.0, x + w / 2.0, y + line / 2.0];
        let overlap = |b: &[f32; 4]| -> f32 {
            placed
                .iter()
                .map(|p| {
                    let ox = (b[2].min(p[2]) - b[0].max(p[0])).max(0.0);
                    let oy = (b[3].min(p[3]) - b[1].max(p[1])).max(0.0);
                    ox * oy
                })
                .sum()
        };
        let cost = |b: &[f32; 4]| -> f32 {
            let covered = probe
                .iter()
                .filter(|p| p[0] >= b[0] && p[0] <= b[2] && p[1] >= b[1] && p[1] <= b[3])
                .count();
            overlap(b) + point_cost * covered as f32
        };
        let mut best = (f32::INFINITY, cx, cy);
        'search: for dy in [0.0, -1.0, 1.0, -2.0, 2.0, -3.0, 3.0, -4.0, 4.0] {
            for dx in [0.0, -0.5, 0.5] {
                let x = (cx + dx * w).clamp(w / 2.0 + 2.0, MAP_W - w / 2.0 - 2.0);
                let y = (cy + dy * line).clamp(line, MAP_H - line);
                let c = cost(&boxed(x, y));
                if c < best.0 {
                    best = (c, x, y);
                }
                if c == 0.0 {
                    break 'search;
                }
            }
        }
        let b = boxed(best.1, best.2);
        if only_clear && overlap(&b) > 0.0 {
            continue;
        }
        placed.push(b);
        out.push((index, (best.1, best.2)));
    }
    out
}

/// The density view: squares of [`CELL`] pixels, each coloured by the most
/// common topic among its papers (outliers grey) and more opaque where
/// more papers fall, on a logarithmic scale.
fn density(s: &mut String, model: &TopicModel, screen: &[[f32; 2]]) {
    let cols = (MAP_W / CELL).ceil() as usize;
    let rows = (MAP_H / CELL).ceil() as usize;
    let topics = model.topics.len() + 1;
    // Per cell: papers per topic (last: outliers). Sparse: only filled cells.
    let mut cells: std::collections::HashMap<usize, Vec<u32>> = Default::default();
    for (i, p) in screen.iter().enumerate() {
        let c = ((p[0] / CELL) as usize).min(cols - 1);
        let r = ((p[1] / CELL) as usize).min(rows - 1);
        let a = &model.assignments[i];
        let t = match (a.outlier, a.topic) {
            (false, Some(t)) => t,
            _ => topics - 1,
        };
        cells.entry(r * cols + c).or_insert_with(|| vec![0; topics])[t] += 1;
    }
    let most = cells
        .values()
        .map(|v| v.iter().sum::<u32>())
        .max()
        .unwrap_or(1)
        .max(2);
    let mut keys: Vec<usize> = cells.keys().copied().collect();
    keys.sort_unstable();
    s.push_str("<g class=\"density\" shape-rendering=\"crispEdges\">\n");
    for key in keys {
        let counts = &cells[&key];
        let total: u32 = counts.iter().sum();
        let (t, _) = counts
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(&a.0)))
            .expect("a cell has counts");
        let class = if t + 1 == topics {
            "o".to_string()
        } else {
            format!("t{t}")
        };
        let opacity = 0.25 + 0.75 * (total as f32).ln_1p() / (most as f32).ln_1p();
        let _ = writeln!(
            s,
            "<rect class=\"{class}\" x=\"{:.0}\" y=\"{:.0}\" width=\"{CELL:.0}\" height=\"{CELL:.0}\" fill-opacity=\"{opacity:.2}\"/>",
            (key % cols) as f32 * CELL,
            (key / cols) as f32 * CELL,
        );
    }
    s.push_str("</g>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortens_long_text() {
        assert_eq!(shorten("abcdef", 4), "abc…");
        assert_eq!(shorten("abc", 4), "abc");
    }

    #[test]
    fn screen_points_stay_inside_the_map() {
        let s = to_screen(&[[-5.0, 2.0], [5.0, -2.0], [0.0, 0.0]]);
        for p in s {
            assert!(p[0] >= MARGIN - 0.01 && p[0] <= MAP_W - MARGIN + 0.01);
            assert!(p[1] >= 0.0 && p[1] <= MAP_H);
        }
    }

    #[test]
    fn colours_are_distinct_beyond_the_palette() {
        let c: std::collections::HashSet<String> = (0..40).map(colour).collect();
        assert_eq!(c.len(), 40);
    }
}
