//! The topic map as one self-contained HTML page: the SVG map inline (hover
//! a point for its title and subtopic), then each topic's terms,
//! representative papers and subtopics. No scripts, fonts or anything else fetched from the network.

use std::fmt::Write;

use super::map_svg::{colour, render_svg};
use super::TopicModel;
use crate::markup::escape;
use crate::wording::count;
use crate::Result;

/// Renders the page; arguments as for [`render_svg`].
pub fn render_html(model: &TopicModel, points: &[[f32; 2]], titles: &[String]) -> Result<String> {
    let svg = render_svg(model, points, titles)?;
    let n = points.len();
    let mut s = String::with_capacity(svg.len() + 4096);
    s.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    let _ = writeln!(
        s,
        "<title>Topic map: {}, {}</title>",
        count(n, "paper"),
        count(model.topics.len(), "topic")
    );
    s.push_str(
        "<style>\n\
         body{font-family:Helvetica,Arial,sans-serif;margin:1.5em;color:#1a1a1a;max-width:1320px}\n\
         svg{max-width:100%;height:auto;border:1px solid #ddd}\n\
         circle:hover{stroke:#000;stroke-width:1.5px;fill-opacity:1}\n\
         .topic{margin:1em 0}.sw{display:inline-block;width:.8em;height:.8em;margin-right:.4em}\n\
         .terms{color:#555;font-size:.9em}ol{margin:.3em 0}\n\
         </style>\n</head>\n<body>\n",
    );
    let _ = writeln!(
        s,
        "<h1>Topic map</h1>\n<p>{} in {} ({}). Hover a point to see its title.</p>",
        count(n, "paper"),
        count(model.topics.len(), "topic"),
        count(model.outliers.len(), "outlier")
    );
    s.push_str(&svg);
    s.push_str("<h2>Topics</h2>\n");
    for t in &model.topics {
        let _ = writeln!(
            s,
            "<div class=\"topic\"><h3><span class=\"sw\" style=\"background:{}\"></span>{} ({})</h3>\
             <div class=\"terms\">{}</div><ol>",
            colour(t.id),
            escape(&t.label),
            count(t.size, "paper"),
            escape(&t.terms.join(", "))
        );
        for p in &t.papers {
            let _ = writeln!(
                s,
                "<li>{} <small>({:.2})</small></li>",
                escape(&p.title),
                p.score
            );
        }
        s.push_str("</ol>");
        if !t.subtopics.is_empty() {
            s.push_str("<ul class=\"subs\">\n");
            for sub in &t.subtopics {
                let _ = writeln!(
                    s,
                    "<li>{}.{} {} ({}) <span class=\"terms\">{}</span></li>",
                    t.id,
                    sub.id,
                    escape(&sub.label),
                    count(sub.size, "paper"),
                    escape(&sub.terms.join(", "))
                );
            }
            s.push_str("</ul>");
        }
        s.push_str("</div>\n");
    }
    if !model.outliers.is_empty() {
        s.push_str("<h2>Outliers</h2>\n<ul>\n");
        for p in &model.outliers {
            let _ = writeln!(s, "<li>{}</li>", escape(&p.title));
        }
        s.push_str("</ul>\n");
    }
    s.push_str("</body>\n</html>\n");
    Ok(s)
}
