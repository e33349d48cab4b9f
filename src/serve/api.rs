//! The JSON API: `/api/similar`, `/api/search`, `/api/recommend`,
//! `/api/paper/{id}`, `/api/topics`, `/api/info` and `/healthz`. Answers
//! have the shapes of the CLI's `--json` output; every error is
//! `{"error": {"status": N, "message": "..."}}` with the status chosen here
//! in one place: 400 for a bad parameter, 404 for an unknown paper, 413 for
//! a body or text that is too large, 503 while not ready (loading, too
//! busy, or over the time limit).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::{AppState, Snapshot, MAX_EXAMPLES, MAX_K, MAX_TEXT_CHARS};
use crate::corpus::Paper;
use crate::lexical::Rank;
use crate::library_info::LibraryInfo;
use crate::library_topics::{TopicPath, TopicTag};
use crate::paper_filter::RecordFilter;
use crate::query::{self, Answer};
use crate::recommend::{
    self, Candidates, Example, ExampleSource, Filters, PartialDate, Profile, Recommendation,
    Request as RecommendRequest, Scorer, SourceFilter, TopicFilter, WEIGHTS,
};
use crate::store::Library;
use crate::Error;

/// Results when `k` is not given.
const DEFAULT_K: usize = 10;

/// An error answer: a status and a message saying what to do.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_ready(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message)
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        let status = match &e {
            Error::PaperNotFound { .. } => StatusCode::NOT_FOUND,
            Error::InvalidArgument { .. }
            | Error::AmbiguousPaper { .. }
            | Error::WrongDimension { .. }
            | Error::InvalidVectors { .. } => StatusCode::BAD_REQUEST,
            Error::NoPapers { .. } => StatusCode::NOT_FOUND,
            Error::TextIndexMissing { .. } => StatusCode::CONFLICT,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    status: u16,
    message: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                status: self.status.as_u16(),
                message: &self.message,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert("retry-after", axum::http::HeaderValue::from_static("1"));
        }
        response
    }
}

type ApiResult<T> = std::result::Result<Json<T>, ApiError>;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/api/info", get(info))
        .route("/api/similar", get(similar))
        .route("/api/search", get(search))
        .route("/api/recommend", post(recommend_handler))
        .route("/api/paper/{id}", get(paper))
        .route("/api/topics", get(topics))
        .route("/api/topics/{id}", get(topic_members))
        .fallback(not_found)
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!(
            "no such page {}: the API is /api/similar, /api/search, /api/recommend, \
             /api/paper/ID, /api/topics, /api/info and /healthz",
            uri.path()
        ),
    )
}

/// Gives the errors the router answers by itself on the API's paths (a
/// method the path does not take, a path that is not UTF-8) the API's JSON
/// error body, keeping their status and headers.
pub async fn json_errors(req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let response = next.run(req).await;
    let status = response.status();
    let json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    let api = path.starts_with("/api/") || path == "/healthz";
    if json || !api || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let message = if status == StatusCode::METHOD_NOT_ALLOWED {
        // Every path of the API takes GET, but for recommend's POST.
        let allowed = if path == "/api/recommend" {
            "POST"
        } else {
            "GET"
        };
        format!("{path} does not take {method}: use {allowed}")
    } else {
        let text = axum::body::to_bytes(body, 64 * 1024)
            .await
            .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_string())
            .unwrap_or_default();
        if text.is_empty() {
            status
                .canonical_reason()
                .unwrap_or("the request failed")
                .to_string()
        } else {
            text
        }
    };
    let mut answer = ApiError::new(status, message).into_response();
    for (name, value) in &parts.headers {
        if name != axum::http::header::CONTENT_TYPE && name != axum::http::header::CONTENT_LENGTH {
            answer.headers_mut().insert(name.clone(), value.clone());
        }
    }
    answer
}

/// Answers 503 for a request that takes longer than `limit`.
pub async fn with_timeout(limit: Duration, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::not_ready(format!(
            "the request took longer than {} s and was stopped; retry, or ask for fewer results",
            limit.as_secs_f64()
        ))
        .into_response(),
    }
}

/// Runs `f` on a blocking thread with the current snapshot.
pub async fn on_snapshot<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&Snapshot) -> std::result::Result<T, ApiError> + Send + 'static,
) -> std::result::Result<T, ApiError> {
    let snapshot = state.current()?;
    let _turn = state.turn().await?;
    tokio::task::spawn_blocking(move || f(&snapshot))
        .await
        .map_err(|e| ApiError::internal(format!("the request failed: {e}")))?
}

/// Query parameters, with the names a handler accepts.
pub struct Params {
    values: HashMap<String, String>,
}

impl Params {
    pub fn parse(
        query: std::result::Result<Query<HashMap<String, String>>, QueryRejection>,
        allowed: &[&str],
    ) -> std::result::Result<Params, ApiError> {
        let Query(values) = query.map_err(|e| {
            ApiError::bad_request(format!(
                "the query string is not readable: {}",
                e.body_text()
            ))
        })?;
        if let Some(unknown) = values.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(ApiError::bad_request(format!(
                "unknown parameter '{unknown}': this endpoint takes {}",
                allowed.join(", ")
            )));
        }
        Ok(Params { values })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// A required text parameter: present, not blank, not too long.
    pub fn text(&self, name: &str, what: &str) -> std::result::Result<String, ApiError> {
        let value = self.get(name).unwrap_or("");
        if value.trim().is_empty() {
            return Err(ApiError::bad_request(format!(
                "parameter '{name}' is missing or empty: give {what}"
            )));
        }
        check_text_length(name, value)?;
        Ok(value.to_string())
    }

    /// `k`: the number of results, 1 to [`MAX_K`], `DEFAULT_K` when absent.
    pub fn k(&self) -> std::result::Result<usize, ApiError> {
        match self.get("k") {
            None => Ok(DEFAULT_K),
            Some(text) => parse_k(text),
        }
    }

    /// `rank`: `dense` or `hybrid`; `None` when absent (then
    /// [`crate::lexical::choose`] picks).
    pub fn rank(&self) -> std::result::Result<Option<Rank>, ApiError> {
        match self.get("rank") {
            None => Ok(None),
            Some(text) => text
                .parse()
                .map(Some)
                .map_err(|e: String| ApiError::bad_request(format!("parameter 'rank': {e}"))),
        }
    }
}

fn parse_k(text: &str) -> std::result::Result<usize, ApiError> {
    match text.trim().parse::<usize>() {
        Ok(k) if (1..=MAX_K).contains(&k) => Ok(k),
        _ => Err(ApiError::bad_request(format!(
            "parameter 'k' is '{text}': give a whole number of results from 1 to {MAX_K}"
        ))),
    }
}

fn check_k(k: usize) -> std::result::Result<usize, ApiError> {
    if (1..=MAX_K).contains(&k) {
        Ok(k)
    } else {
        Err(ApiError::bad_request(format!(
            "'k' is {k}: give a whole number of results from 1 to {MAX_K}"
        )))
    }
}

fn check_text_length(name: &str, value: &str) -> std::result::Result<(), ApiError> {
    let chars = value.chars().count();
    if chars > MAX_TEXT_CHARS {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "'{name}' is {chars} characters long: give at most {MAX_TEXT_CHARS} \
                 (a sentence or a paragraph is enough)"
            ),
        ));
    }
    Ok(())
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    generation: u64,
    papers: usize,
}

async fn healthz(State(state): State<Arc<AppState>>) -> ApiResult<Health> {
    let snapshot = state.current()?;
    Ok(Json(Health {
        status: "ok",
        generation: snapshot.generation(),
        papers: snapshot.searcher.len(),
    }))
}

/// `/api/info`: `relate info --json`, and what the server does with it.
#[derive(Serialize)]
pub struct ServerInfo {
    #[serde(flatten)]
    library: LibraryInfo,
    server: Serving,
}

#[derive(Serialize)]
struct Serving {
    /// `hnsw` or `exact`: how `similar` and `search` are answered.
    search: &'static str,
    /// The library generation being served.
    generation: u64,
    papers: usize,
    /// The model free texts are embedded with.
    model: String,
    /// Seconds between checks for a changed library (SIGHUP checks at once).
    reload_every_secs: f64,
    max_k: usize,
    max_text_chars: usize,
    max_body_bytes: usize,
    request_timeout_secs: f64,
}

async fn info(State(state): State<Arc<AppState>>) -> ApiResult<ServerInfo> {
    let snapshot = state.current()?;
    Ok(Json(ServerInfo {
        library: snapshot.info.clone(),
        server: Serving {
            search: snapshot.searcher.method_name(),
            generation: snapshot.generation(),
            papers: snapshot.searcher.len(),
            model: state.model_id.clone(),
            reload_every_secs: state.reload_every.as_secs_f64(),
            max_k: MAX_K,
            max_text_chars: MAX_TEXT_CHARS,
            max_body_bytes: super::MAX_BODY_BYTES,
            request_timeout_secs: state.request_timeout.as_secs_f64(),
        },
    }))
}

/// Papers related to a paper: shared with the page. It runs on the
/// runtime's own thread rather than a blocking one: a graph walk and a few
/// indexed reads of a library held in memory take a fraction of a
/// millisecond, less than the hand-over to another thread costs (p50 at 8
/// clients fell from 1.7–2.0 ms to 1.4–1.6 ms on 100,000 papers).
pub async fn similar_answer(
    state: &AppState,
    paper: String,
    k: usize,
    rank: Option<Rank>,
) -> std::result::Result<Answer, ApiError> {
    let s = state.current()?;
    let _turn = state.turn().await?;
    s.with_library(|library| {
        library.read_together(|library| {
            let rank = crate::lexical::choose(rank, library)?;
            query::similar_in(library, &s.searcher, &paper, k, None, rank)
        })
    })
    .map_err(ApiError::from)
}

/// Papers about a text: shared with the page.
pub async fn search_answer(
    state: &AppState,
    text: String,
    k: usize,
    rank: Option<Rank>,
) -> std::result::Result<Answer, ApiError> {
    query::check_search_text(&text)?;
    let snapshot = state.current()?;
    let vector = state
        .embedder
        .embed(vec![text.clone()])
        .await?
        .pop()
        .ok_or_else(|| ApiError::internal("the model returned no vector"))?;
    let _turn = state.turn().await?;
    tokio::task::spawn_blocking(move || {
        snapshot
            .with_library(|library| {
                library.read_together(|library| {
                    let rank = crate::lexical::choose(rank, library)?;
                    query::search_vector_in(
                        library,
                        &snapshot.searcher,
                        &text,
                        &vector,
                        k,
                        None,
                        rank,
                    )
                })
            })
            .map_err(ApiError::from)
    })
    .await
    .map_err(|e| ApiError::internal(format!("the request failed: {e}")))?
}

async fn similar(
    State(state): State<Arc<AppState>>,
    query: std::result::Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult<Answer> {
    let params = Params::parse(query, &["paper", "k", "rank"])?;
    let paper = params.text("paper", "a paper id or title")?;
    let k = params.k()?;
    let rank = params.rank()?;
    similar_answer(&state, paper, k, rank).await.map(Json)
}

async fn search(
    State(state): State<Arc<AppState>>,
    query: std::result::Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult<Answer> {
    let params = Params::parse(query, &["q", "k", "rank"])?;
    let text = params.text("q", "a text saying what the papers should be about")?;
    let k = params.k()?;
    let rank = params.rank()?;
    search_answer(&state, text, k, rank).await.map(Json)
}

/// A paper as `/api/paper/ID` answers it: the stored record and its topic.
#[derive(Serialize)]
pub struct PaperAnswer {
    #[serde(flatten)]
    pub paper: Paper,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<TopicTag>,
}

/// The stored paper with this id (not a title): shared with the page.
pub async fn paper_answer(
    state: &AppState,
    id: String,
) -> std::result::Result<PaperAnswer, ApiError> {
    if id.trim().is_empty() {
        return Err(ApiError::bad_request(
            "the paper id is empty: ask for /api/paper/ID",
        ));
    }
    check_text_length("id", &id)?;
    on_snapshot(state, move |s| {
        let found = s.with_library(|library| {
            Ok(match library.paper_by_id(&id)? {
                Some(paper) => Some((library.slot_of(&paper.id)?, paper)),
                None => None,
            })
        })?;
        let Some((slot, paper)) = found else {
            return Err(ApiError::from(Error::PaperNotFound { query: id }));
        };
        let topic = slot.and_then(|slot| s.searcher.topics().and_then(|t| t.tag(slot)));
        Ok(PaperAnswer { paper, topic })
    })
    .await
}

async fn paper(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> ApiResult<PaperAnswer> {
    paper_answer(&state, id).await.map(Json)
}

/// `/api/topics`: the saved topic assignment the results are tagged with.
#[derive(Serialize)]
struct TopicsAnswer {
    /// `fresh` when `relate topics` saved topics for the library as served,
    /// else `none` (topics are never shown for an older library).
    status: &'static str,
    generation: u64,
    papers: usize,
    topics: Vec<TopicSummary>,
    outliers: usize,
}

#[derive(Serialize)]
struct TopicSummary {
    /// A topic's number, or a subtopic's number within its topic (as
    /// `relate topics --json` numbers them).
    id: u32,
    label: String,
    size: usize,
    /// The topic's subtopics; absent for a subtopic.
    #[serde(skip_serializing_if = "Option::is_none")]
    subtopics: Option<Vec<TopicSummary>>,
}

async fn topics(State(state): State<Arc<AppState>>) -> ApiResult<TopicsAnswer> {
    let snapshot = state.current()?;
    let papers = snapshot.searcher.len();
    let Some(saved) = snapshot.searcher.topics() else {
        return Ok(Json(TopicsAnswer {
            status: "none",
            generation: snapshot.generation(),
            papers,
            topics: Vec::new(),
            outliers: 0,
        }));
    };
    let mut sizes = vec![0usize; saved.labels.len()];
    let mut subsizes: Vec<Vec<usize>> = saved.sublabels.iter().map(|l| vec![0; l.len()]).collect();
    let mut outliers = 0;
    for (slot, t) in saved.topics.iter().enumerate() {
        match t.and_then(|t| sizes.get_mut(t as usize).map(|size| (t, size))) {
            Some((t, size)) => {
                *size += 1;
                let sub = saved.subtopics.get(slot).copied().flatten();
                if let Some(n) = sub.and_then(|s| subsizes.get_mut(t as usize)?.get_mut(s as usize))
                {
                    *n += 1;
                }
            }
            None => outliers += 1,
        }
    }
    let topics = saved
        .labels
        .iter()
        .zip(sizes)
        .enumerate()
        .map(|(t, (label, size))| TopicSummary {
            id: t as u32,
            label: label.clone(),
            size,
            subtopics: Some(
                saved
                    .sublabels
                    .get(t)
                    .into_iter()
                    .flatten()
                    .enumerate()
                    .map(|(s, label)| TopicSummary {
                        id: s as u32,
                        label: label.clone(),
                        size: subsizes[t][s],
                        subtopics: None,
                    })
                    .collect(),
            ),
        })
        .collect();
    Ok(Json(TopicsAnswer {
        status: "fresh",
        generation: snapshot.generation(),
        papers,
        topics,
        outliers,
    }))
}

/// `/api/topics/T` or `/api/topics/T.S`: a topic's members, closest to its
/// centre first, as `relate topics --show --json` lists them.
#[derive(Serialize)]
struct TopicMembers {
    topic: String,
    label: String,
    size: usize,
    members: Vec<TopicMember>,
}

#[derive(Serialize)]
struct TopicMember {
    rank: usize,
    id: String,
    title: String,
    /// Cosine similarity to the topic's centre.
    score: f32,
}

async fn topic_members(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    query: std::result::Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult<TopicMembers> {
    let params = Params::parse(query, &["k"])?;
    let k = params.k()?;
    let path: TopicPath = id.parse().map_err(ApiError::bad_request)?;
    on_snapshot(&state, move |s| {
        let Some(saved) = s.searcher.topics() else {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "the library has no current topics: run `relate topics`",
            ));
        };
        saved
            .check(path)
            .map_err(|e| ApiError::new(StatusCode::NOT_FOUND, e.to_string()))?;
        let members = saved.members(s.searcher.vectors(), path);
        let shown = &members[..members.len().min(k)];
        let slots: Vec<u32> = shown.iter().map(|m| m.0).collect();
        let papers = s.with_library(|library| library.papers_by_slots(&slots))?;
        Ok(TopicMembers {
            topic: path.to_string(),
            label: saved.label_of(path).unwrap_or_default(),
            size: members.len(),
            members: papers
                .into_iter()
                .zip(shown)
                .enumerate()
                .map(|(i, (paper, &(_, score)))| TopicMember {
                    rank: i + 1,
                    id: paper.id,
                    title: paper.title,
                    score,
                })
                .collect(),
        })
    })
    .await
    .map(Json)
}

/// One example of a recommend request: a string, or `{"value", "weight"}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum WeightedInput {
    Plain(String),
    Weighted { value: String, weight: f32 },
}

impl WeightedInput {
    fn parts(&self) -> (&str, f32) {
        match self {
            WeightedInput::Plain(v) => (v, 1.0),
            WeightedInput::Weighted { value, weight } => (value, *weight),
        }
    }
}

/// The body of `POST /api/recommend`: the CLI's flags as JSON.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecommendBody {
    /// Papers liked, by id or title.
    #[serde(default)]
    pub like: Vec<WeightedInput>,
    #[serde(default)]
    pub unlike: Vec<WeightedInput>,
    /// Texts describing what is liked.
    #[serde(default)]
    pub like_text: Vec<WeightedInput>,
    #[serde(default)]
    pub unlike_text: Vec<WeightedInput>,
    pub since: Option<String>,
    pub until: Option<String>,
    #[serde(default)]
    pub category: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Only papers ingested from these files (as given to ingest).
    #[serde(default)]
    pub source: Vec<String>,
    /// Only members of this saved topic (`3`) or subtopic (`3.1`).
    pub topic: Option<String>,
    pub scorer: Option<String>,
    /// `dense` or `hybrid`.
    pub rank: Option<String>,
    pub k: Option<usize>,
    #[serde(default)]
    pub explain: bool,
}

impl RecommendBody {
    /// The library request this body asks for, or what is wrong with it.
    pub fn to_request(&self) -> std::result::Result<RecommendRequest, ApiError> {
        let examples =
            self.like.len() + self.unlike.len() + self.like_text.len() + self.unlike_text.len();
        if examples > MAX_EXAMPLES {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("{examples} examples given: give at most {MAX_EXAMPLES}"),
            ));
        }
        let mut profile = Profile::default();
        let groups = [
            ("like", &self.like, false, true),
            ("unlike", &self.unlike, false, false),
            ("like_text", &self.like_text, true, true),
            ("unlike_text", &self.unlike_text, true, false),
        ];
        for (field, inputs, is_text, positive) in groups {
            for input in inputs {
                let (value, weight) = input.parts();
                if value.trim().is_empty() {
                    return Err(ApiError::bad_request(format!(
                        "'{field}' holds an empty entry: give a paper id or title, or a text"
                    )));
                }
                check_text_length(field, value)?;
                if !WEIGHTS.contains(&weight) {
                    return Err(ApiError::bad_request(format!(
                        "'{field}' weight {weight} for {value:?}: give a number within {}..={}",
                        WEIGHTS.start(),
                        WEIGHTS.end()
                    )));
                }
                let source = if is_text {
                    ExampleSource::Text(value.to_string())
                } else {
                    ExampleSource::Paper(value.to_string())
                };
                let example = Example { source, weight };
                if positive {
                    profile.positives.push(example);
                } else {
                    profile.negatives.push(example);
                }
            }
        }
        if profile.positives.is_empty() {
            return Err(ApiError::bad_request(
                "no positive example: give at least one paper in 'like' or text in 'like_text'",
            ));
        }
        let date = |field: &str, value: &Option<String>| match value {
            None => Ok(None),
            Some(text) => text
                .parse::<PartialDate>()
                .map(Some)
                .map_err(|e| ApiError::bad_request(format!("'{field}': {e}"))),
        };
        let scorer = match &self.scorer {
            None => Scorer::default(),
            Some(s) => s
                .parse()
                .map_err(|e: String| ApiError::bad_request(format!("'scorer': {e}")))?,
        };
        let rank = match &self.rank {
            None => Rank::default(),
            Some(s) => s
                .parse()
                .map_err(|e: String| ApiError::bad_request(format!("'rank': {e}")))?,
        };
        self.topic_path()?;
        if let Some(empty) = self.source.iter().find(|s| s.trim().is_empty()) {
            return Err(ApiError::bad_request(format!(
                "'source' holds {empty:?}: give the files' paths as they were ingested"
            )));
        }
        Ok(RecommendRequest {
            rank,
            profile,
            candidates: Candidates::Library,
            filters: Filters {
                record: RecordFilter {
                    since: date("since", &self.since)?,
                    until: date("until", &self.until)?,
                    categories: self.category.clone(),
                },
                exclude: self.exclude.clone(),
                sources: None,
                topic: None,
            },
            k: check_k(self.k.unwrap_or(DEFAULT_K))?,
            scorer,
            explain: self.explain,
        })
    }
}

impl RecommendBody {
    /// The `topic` asked for, checked for form only.
    fn topic_path(&self) -> std::result::Result<Option<TopicPath>, ApiError> {
        self.topic
            .as_deref()
            .map(|t| {
                t.parse::<TopicPath>()
                    .map_err(|e| ApiError::bad_request(format!("'topic': {e}")))
            })
            .transpose()
    }

    /// Adds to `request` the filters that need the library: the papers of
    /// the `source` files and the members of `topic` (which must be saved
    /// and current).
    fn add_library_filters(
        &self,
        library: &Library,
        request: &mut RecommendRequest,
    ) -> std::result::Result<(), ApiError> {
        request.filters.sources = SourceFilter::new(library, &self.source)?;
        if let Some(path) = self.topic_path()? {
            let filter = TopicFilter::new(library, path).map_err(|e| match e {
                e @ Error::InvalidArgument { .. } => ApiError::bad_request(format!("'topic': {e}")),
                e => ApiError::from(e),
            })?;
            request.filters.topic = Some(filter);
        }
        Ok(())
    }
}

async fn recommend_handler(
    State(state): State<Arc<AppState>>,
    body: std::result::Result<Json<RecommendBody>, JsonRejection>,
) -> ApiResult<Recommendation> {
    let Json(body) = body.map_err(|e| {
        let status = match e.status() {
            StatusCode::PAYLOAD_TOO_LARGE => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError::new(
            status,
            format!(
                "the request body is not a recommend profile: {}. Send JSON such as \
                 {{\"like\": [\"PAPER ID\"], \"unlike\": [], \"k\": 10}} with \
                 Content-Type: application/json, at most {} bytes",
                e.body_text(),
                super::MAX_BODY_BYTES
            ),
        )
    })?;
    let mut request = body.to_request()?;
    let asked = body.rank.is_some();
    let worker = state.clone();
    on_snapshot(&state, move |s| {
        s.with_library(|library| {
            if let Err(e) = body.add_library_filters(library, &mut request) {
                return Ok(Err(e));
            }
            if !asked {
                request.rank = crate::lexical::choose(None, library)?;
            }
            recommend::recommend(library, &worker.embedder, &request).map(Ok)
        })
        .map_err(ApiError::from)
        .and_then(|answer| answer)
    })
    .await
    .map(Json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use tower::ServiceExt;

    async fn json_of(response: Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn a_request_past_the_time_limit_is_503_json_with_retry_after() {
        let app: Router = Router::new()
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(10)).await;
                    "late"
                }),
            )
            .route("/quick", get(|| async { "done" }))
            .layer(axum::middleware::from_fn(|req: Request, next: Next| {
                with_timeout(Duration::from_millis(50), req, next)
            }));
        let request = |uri: &str| {
            axum::http::Request::builder()
                .uri(uri)
                .body(Body::empty())
                .unwrap()
        };
        let response = app.clone().oneshot(request("/slow")).await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()["retry-after"], "1");
        let body = json_of(response).await;
        assert_eq!(body["error"]["status"], 503);
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("longer than 0.05 s"), "{message}");
        let response = app.oneshot(request("/quick")).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }

    #[test]
    fn k_is_a_whole_number_from_1_to_the_limit() {
        assert_eq!(parse_k("1").unwrap(), 1);
        assert_eq!(parse_k(" 1000 ").unwrap(), MAX_K);
        for bad in ["0", "1001", "-1", "ten", "", "2.5"] {
            let e = parse_k(bad).unwrap_err();
            assert_eq!(e.status(), StatusCode::BAD_REQUEST);
            assert!(e.message().contains("'k'"), "{}", e.message());
        }
    }

    #[test]
    fn a_recommend_body_becomes_the_cli_request() {
        let body: RecommendBody = serde_json::from_str(
            r#"{"like": ["a", {"value": "b", "weight": 2}], "unlike_text": ["c"],
                "since": "2024-05", "category": ["cs."], "scorer": "multi", "k": 3}"#,
        )
        .unwrap();
        let request = body.to_request().unwrap();
        assert_eq!(request.profile.positives.len(), 2);
        assert_eq!(request.profile.positives[1].weight, 2.0);
        assert!(matches!(
            &request.profile.negatives[0].source,
            ExampleSource::Text(t) if t == "c"
        ));
        assert_eq!(request.scorer, Scorer::Multi);
        assert_eq!(request.k, 3);
        assert_eq!(request.filters.record.categories, ["cs."]);
        assert_eq!(request.filters.record.since, "2024-05".parse().ok());

        let e = RecommendBody::default().to_request().unwrap_err();
        assert!(e.message().contains("no positive example"));
        let long = RecommendBody {
            like_text: vec![WeightedInput::Plain("x".repeat(MAX_TEXT_CHARS + 1))],
            ..RecommendBody::default()
        };
        assert_eq!(
            long.to_request().unwrap_err().status(),
            StatusCode::PAYLOAD_TOO_LARGE
        );
    }

    #[test]
    fn library_errors_map_to_statuses() {
        let status = |e: Error| ApiError::from(e).status();
        assert_eq!(
            status(Error::PaperNotFound { query: "x".into() }),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            status(Error::InvalidArgument {
                name: "query".into(),
                problem: "is empty".into()
            }),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            status(Error::Compute("broken".into())),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
