//! The browser page: plain server-rendered HTML with a little JavaScript
//! and no build step or network fetch. `/` is a search box (a paper id or
//! exact title shows related papers, anything else is a free-text search)
//! with results; `/paper/ID` shows a paper, its abstract and related
//! papers, with "more like this" / "less like this" buttons that the
//! script (`page.js`) keeps in the browser and sends to `/api/recommend`;
//! `/map` is the topic map of `relate topics --map`, drawn once per library
//! state on first request. Styles (`page.css`) follow the system's light or
//! dark preference.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::api::{paper_answer, search_answer, similar_answer, ApiError, Params};
use super::{AppState, Snapshot};
use crate::library_topics;
use crate::markup::escape;
use crate::query::{self, Answer};
use crate::topics::{render_html, TopicOptions};
use crate::wording::count;

const CSS: &str = include_str!("page.css");
const JS: &str = include_str!("page.js");
/// Related papers shown on a paper's page.
const RELATED: usize = 10;

/// The topic map of one snapshot.
#[derive(Debug, Clone)]
pub enum MapState {
    NotStarted,
    Drawing,
    Ready(Arc<String>),
    Failed(String),
}

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(index))
        .route("/paper/{id}", get(paper_page))
        .route("/map", get(map))
        .route("/static/page.css", get(css))
        .route("/static/page.js", get(js))
}

async fn css() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], CSS).into_response()
}

async fn js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        JS,
    )
        .into_response()
}

/// Percent-encodes a paper id for one path segment.
pub fn encode_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn layout(title: &str, query: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"color-scheme\" content=\"light dark\">\n\
         <title>{title}</title>\n<link rel=\"stylesheet\" href=\"/static/page.css\">\n\
         <script src=\"/static/page.js\" defer></script>\n</head>\n<body>\n\
         <header><a class=\"home\" href=\"/\">relate</a>\
         <form action=\"/\" method=\"get\" role=\"search\">\
         <input id=\"q\" name=\"q\" type=\"search\" value=\"{query}\" maxlength=\"{max}\" \
         placeholder=\"A paper id or title, or what the papers should be about\" \
         aria-label=\"Search\" autofocus>\
         <button type=\"submit\">Search</button></form>\
         <nav><a href=\"/map\">Topic map</a></nav></header>\n<main>\n{body}\n\
         <section id=\"recommended\" hidden><h2>Recommended for you</h2>\
         <p class=\"profile\"></p><ol class=\"results\"></ol></section>\n\
         </main>\n</body>\n</html>\n",
        title = escape(title),
        query = escape(query),
        max = super::MAX_TEXT_CHARS,
    )
}

fn error_page(e: &ApiError, query: &str) -> Response {
    let body = format!(
        "<p class=\"error\" role=\"alert\">{}</p>",
        escape(e.message())
    );
    (e.status(), Html(layout("relate: error", query, &body))).into_response()
}

/// A result list; `reason` gives each row's reason text.
fn render_results(answer: &Answer, reason: &str) -> String {
    let mut s = String::from("<ol class=\"results\">\n");
    for row in &answer.results {
        let _ = write!(
            s,
            "<li><a class=\"title\" href=\"/paper/{}\">{}</a>\
             <div class=\"meta\"><span class=\"score\" title=\"cosine similarity\">{:.3}</span>",
            encode_segment(&row.id),
            escape(&row.title),
            row.score
        );
        if let Some(topic) = &row.topic {
            let _ = write!(s, "<span class=\"topic\">{}</span>", escape(&topic.label));
        }
        if let Some(date) = &row.date {
            let _ = write!(s, "<span class=\"date\">{}</span>", escape(date));
        }
        let _ = write!(s, "<span class=\"id\">{}</span>", escape(&row.id));
        if !row.copies.is_empty() {
            let _ = write!(
                s,
                "<span class=\"copies\" title=\"the same paper under other ids\">also {}</span>",
                escape(&row.copies.join(", "))
            );
        }
        let _ = writeln!(s, "</div><div class=\"reason\">{reason}</div></li>");
    }
    s.push_str("</ol>\n");
    s
}

async fn index(
    State(state): State<Arc<AppState>>,
    query: std::result::Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    let params = match Params::parse(query, &["q", "k"]) {
        Ok(p) => p,
        Err(e) => return error_page(&e, ""),
    };
    let q = params.get("q").unwrap_or("").trim().to_string();
    if q.is_empty() {
        let body = match state.current() {
            Ok(s) => format!(
                "<p class=\"intro\">Search {} by meaning: type a paper's id or title \
                 for related papers, or a sentence about what you are looking for.</p>",
                count(s.searcher.len(), "paper")
            ),
            Err(e) => format!("<p class=\"error\">{}</p>", escape(e.message())),
        };
        return Html(layout("relate", "", &body)).into_response();
    }
    match answer_for(&state, &params, &q).await {
        Ok((answer, heading, reason)) => {
            let mut body = format!(
                "<h1>{heading}</h1>\n<p class=\"summary\">{} results, {} search</p>\n",
                answer.results.len(),
                answer.query.method
            );
            body.push_str(&render_results(&answer, &reason));
            Html(layout(&format!("{q} - relate"), &q, &body)).into_response()
        }
        Err(e) => error_page(&e, &q),
    }
}

/// A paper id or exact title gives related papers; anything else is a
/// free-text search. Returns the answer, a heading and the reason shown
/// with each result (all HTML).
async fn answer_for(
    state: &AppState,
    params: &Params,
    q: &str,
) -> std::result::Result<(Answer, String, String), ApiError> {
    let k = params.k()?;
    params.text("q", "a paper id or title, or a text")?;
    let text = q.to_string();
    let snapshot = state.current()?;
    let turn = state.turn().await?;
    let paper = tokio::task::spawn_blocking(move || {
        snapshot.with_library(|library| {
            Ok(match query::resolve_paper(library, &text) {
                Ok(r) if r.matched_by != "closest title" => Some(r.paper),
                _ => None,
            })
        })
    })
    .await
    .map_err(|e| ApiError::internal(format!("the request failed: {e}")))?
    .map_err(ApiError::from)?;
    drop(turn);
    match paper {
        Some(paper) => {
            let answer = similar_answer(state, paper.id.clone(), k, None).await?;
            let link = format!(
                "<a href=\"/paper/{}\">{}</a>",
                encode_segment(&paper.id),
                escape(&paper.title)
            );
            Ok((
                answer,
                format!("Papers related to {link}"),
                format!("close to {link}"),
            ))
        }
        None => {
            let answer = search_answer(state, q.to_string(), k, None).await?;
            let quoted = format!("“{}”", escape(q));
            Ok((
                answer,
                format!("Papers about {quoted}"),
                format!("close in meaning to {quoted}"),
            ))
        }
    }
}

async fn paper_page(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    let found = match paper_answer(&state, id.clone()).await {
        Ok(p) => p,
        Err(e) => return error_page(&e, ""),
    };
    let related = match similar_answer(&state, found.paper.id.clone(), RELATED, None).await {
        Ok(a) => a,
        Err(e) => return error_page(&e, ""),
    };
    let p = &found.paper;
    let mut body = format!(
        "<article class=\"paper\" data-id=\"{}\" data-title=\"{}\">\n<h1>{}</h1>\n<p class=\"meta\">",
        escape(&p.id),
        escape(&p.title),
        escape(&p.title)
    );
    let _ = write!(body, "<span class=\"id\">{}</span>", escape(&p.id));
    if let Some(date) = &p.date {
        let _ = write!(body, "<span class=\"date\">{}</span>", escape(date));
    }
    if let Some(topic) = &found.topic {
        let _ = write!(
            body,
            "<span class=\"topic\">{}</span>",
            escape(&topic.label)
        );
    }
    if let Some(url) = &p.url {
        if url.starts_with("https://") || url.starts_with("http://") {
            let _ = write!(body, "<a href=\"{}\">source</a>", escape(url));
        }
    }
    body.push_str("</p>\n");
    if !p.authors.is_empty() {
        let _ = writeln!(
            body,
            "<p class=\"authors\">{}</p>",
            escape(&p.authors.join(", "))
        );
    }
    if p.abstract_text.trim().is_empty() {
        body.push_str("<p class=\"abstract empty\">No abstract.</p>\n");
    } else {
        let _ = writeln!(
            body,
            "<p class=\"abstract\">{}</p>",
            escape(&p.abstract_text)
        );
    }
    body.push_str(
        "<p class=\"feedback\"><button type=\"button\" class=\"like\">More like this</button> \
         <button type=\"button\" class=\"unlike\">Less like this</button> \
         <button type=\"button\" class=\"clear\">Forget my choices</button></p>\n</article>\n",
    );
    body.push_str("<h2>Related papers</h2>\n");
    let reason = format!("close to this paper ({})", escape(&p.id));
    body.push_str(&render_results(&related, &reason));
    Html(layout(&format!("{} - relate", p.title), "", &body)).into_response()
}

/// Draws the map of `snapshot`'s library (run on a blocking thread).
fn draw_map(snapshot: &Snapshot) -> crate::Result<String> {
    let opts = TopicOptions::default();
    snapshot.with_library(|library| {
        let found = library_topics::find(library, &opts)?;
        let points = library_topics::map_points(&found, opts.seed)?;
        render_html(&found.model, &points, &found.titles)
    })
}

async fn map(State(state): State<Arc<AppState>>) -> Response {
    let snapshot = match state.current() {
        Ok(s) => s,
        Err(e) => return error_page(&e, ""),
    };
    let (current, start) = {
        let mut map = snapshot.map.lock().unwrap_or_else(|e| e.into_inner());
        let start = matches!(*map, MapState::NotStarted);
        if start {
            *map = MapState::Drawing;
        }
        (map.clone(), start)
    };
    if start {
        let drawing = snapshot.clone();
        tokio::task::spawn_blocking(move || {
            let done = match draw_map(&drawing) {
                Ok(html) => MapState::Ready(Arc::new(html)),
                Err(e) => MapState::Failed(e.to_string()),
            };
            *drawing.map.lock().unwrap_or_else(|e| e.into_inner()) = done;
        });
    }
    match current {
        MapState::Ready(html) => Html(html.as_str().to_string()).into_response(),
        MapState::Failed(message) => error_page(
            &ApiError::internal(format!("cannot draw the map: {message}")),
            "",
        ),
        MapState::Drawing | MapState::NotStarted => {
            let body = "<p class=\"notice\" role=\"status\">The topic map is being drawn; \
                        this page reloads by itself.</p>\
                        <script>setTimeout(function(){location.reload()},2000)</script>";
            let mut response = (
                StatusCode::SERVICE_UNAVAILABLE,
                Html(layout("Topic map - relate", "", body)),
            )
                .into_response();
            response
                .headers_mut()
                .insert("retry-after", axum::http::HeaderValue::from_static("2"));
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_ids_are_encoded_for_one_path_segment() {
        assert_eq!(
            escape("<a href=\"x\">Tom's & co</a>"),
            "&lt;a href=&quot;x&quot;&gt;Tom&#39;s &amp; co&lt;/a&gt;"
        );
        assert_eq!(encode_segment("2403.01234v2"), "2403.01234v2");
        assert_eq!(encode_segment("doi:10.1/a b?"), "doi%3A10.1%2Fa%20b%3F");
        assert_eq!(encode_segment("é"), "%C3%A9");
    }

    #[test]
    fn a_result_names_its_copies_escaped() {
        use crate::query::{QueryInfo, ResultRow};
        let paper = crate::corpus::Paper {
            id: "2401.00001".into(),
            title: "A paper".into(),
            ..Default::default()
        };
        let mut row = ResultRow::from_paper(1, paper, 0.5, None);
        let plain = Answer {
            query: QueryInfo {
                kind: "search",
                input: "q".into(),
                id: None,
                title: None,
                matched_by: None,
                method: "exact",
                rank: "dense",
                k: 1,
            },
            results: vec![row.clone()],
        };
        assert!(!render_results(&plain, "").contains("copies"));
        row.copies = vec!["title:<x>".into(), "10.1/y".into()];
        let answer = Answer {
            results: vec![row],
            ..plain
        };
        let html = render_results(&answer, "");
        assert!(
            html.contains("also title:&lt;x&gt;, 10.1/y</span>"),
            "{html}"
        );
    }
}
