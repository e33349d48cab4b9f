//! `relate serve` end to end: the real binary on an ephemeral loopback
//! port (`--addr 127.0.0.1:0`, the bound address read from its standard
//! output), over a library of the sample page and a few dated papers with
//! saved topics. Every endpoint is compared with the CLI's `--json` output
//! where there is one; every error status is provoked; many clients at
//! once must get the answers one client gets; a library changed by
//! `relate ingest` is picked up; SIGTERM stops the server cleanly, after
//! answering the requests in flight.

mod common;

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{model_dir, relate_in, stdout_json, succeed};
use serde_json::{json, Value};

fn root(path: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(path)
        .display()
        .to_string()
}

const DP_SEQUENTIAL: &str = "Differentially Private Sequential Learning";

/// A running `relate serve`, stopped when dropped.
struct Server {
    child: Child,
    base: String,
    stderr: Option<ChildStderr>,
}

impl Server {
    fn start(store: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_relate"))
            .args(["serve", "--addr", "127.0.0.1:0"])
            .args(extra)
            .env("RELATE_MODEL", model_dir())
            .env("RELATE_STORE", store)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("relate serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| {
                let mut err = String::new();
                let _ = child.stderr.take().unwrap().read_to_string(&mut err);
                panic!("unexpected first line {line:?}; stderr: {err}")
            })
            .to_string();
        assert!(base.starts_with("http://127.0.0.1:"), "{base}");
        let stderr = child.stderr.take();
        let server = Server {
            child,
            base,
            stderr,
        };
        server.wait_ready();
        server
    }

    /// Waits until `/healthz` answers 200.
    fn wait_ready(&self) {
        let start = Instant::now();
        loop {
            let (status, _) = self.get("/healthz");
            if status == 200 {
                return;
            }
            assert_eq!(status, 503, "healthz while loading");
            assert!(start.elapsed() < Duration::from_secs(60), "never ready");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    fn get(&self, path: &str) -> (u16, String) {
        let mut response = agent().get(&self.url(path)).call().expect("GET answered");
        let status = response.status().as_u16();
        (status, response.body_mut().read_to_string().unwrap())
    }

    fn get_json(&self, path: &str) -> (u16, Value) {
        let (status, body) = self.get(path);
        let value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {body}"));
        (status, value)
    }

    fn post_json(&self, path: &str, body: &str) -> (u16, Value) {
        let mut response = agent()
            .post(&self.url(path))
            .header("content-type", "application/json")
            .send(body)
            .expect("POST answered");
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap();
        let value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("POST {path}: not JSON ({e}): {text}"));
        (status, value)
    }

    /// Sends SIGTERM and returns the exit status and what was left on stderr.
    fn terminate(self) -> (std::process::ExitStatus, String) {
        self.send_sigterm();
        self.wait_exit()
    }

    fn send_sigterm(&self) {
        let pid = self.child.id().to_string();
        succeed(&Command::new("kill").args(["-TERM", &pid]).output().unwrap());
    }

    /// Waits for the server to exit; returns its status and stderr.
    fn wait_exit(mut self) -> (std::process::ExitStatus, String) {
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "server still running 20 s after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut err = String::new();
        let _ = self.stderr.take().unwrap().read_to_string(&mut err);
        (status, err)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into()
}

/// Percent-encodes a query parameter value.
fn enc(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A library of the sample page and the dated papers, with saved topics,
/// built once and only read by the tests that share it.
fn shared_library() -> &'static Path {
    static STORE: OnceLock<PathBuf> = OnceLock::new();
    STORE.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("serve_api");
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let store = dir.join("library");
        succeed(&relate_in(
            &store,
            &[
                "ingest",
                &root("data/daily-papers-sample.txt"),
                &root("tests/fixtures/recommend/dated.jsonl"),
            ],
        ));
        succeed(&relate_in(&store, &["topics", "--json"]));
        store
    })
}

/// A server over the shared library, stopped when dropped.
fn shared_server() -> Server {
    Server::start(shared_library(), &[])
}

fn ids(answer: &Value) -> Vec<String> {
    answer["results"]
        .as_array()
        .expect("results array")
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

/// Asserts two answers list the same papers in the same order with the
/// same scores (within `tolerance`) and the same topics.
fn assert_same_results(a: &Value, b: &Value, tolerance: f64) {
    assert_eq!(ids(a), ids(b), "same papers in the same order");
    for (x, y) in a["results"]
        .as_array()
        .unwrap()
        .iter()
        .zip(b["results"].as_array().unwrap())
    {
        let (sx, sy) = (x["score"].as_f64().unwrap(), y["score"].as_f64().unwrap());
        assert!((sx - sy).abs() <= tolerance, "scores {sx} and {sy}");
        assert_eq!(x["topic"], y["topic"]);
        assert_eq!(x["title"], y["title"]);
    }
}

fn error_of(status: u16, body: &Value) -> String {
    assert_eq!(body["error"]["status"], status, "{body}");
    body["error"]["message"]
        .as_str()
        .expect("error message")
        .to_string()
}

#[test]
fn healthz_and_info_describe_the_library_served() {
    let server = &shared_server();
    let (status, health) = server.get_json("/healthz");
    assert_eq!(status, 200);
    assert_eq!(health["status"], "ok");
    assert_eq!(health["papers"], 67);

    let (status, info) = server.get_json("/api/info");
    assert_eq!(status, 200);
    let cli = stdout_json(&relate_in(shared_library(), &["info", "--json"]));
    for field in [
        "papers",
        "model",
        "model_fingerprint",
        "dimension",
        "format_version",
        "generation",
        "hnsw_index",
        "topics",
    ] {
        assert_eq!(
            info[field], cli[field],
            "field {field} as `relate info --json`"
        );
    }
    assert_eq!(info["topics"], "fresh");
    assert_eq!(info["server"]["search"], "exact", "no index was built");
    assert_eq!(info["server"]["papers"], 67);
    assert_eq!(info["server"]["generation"], cli["generation"]);
    assert_eq!(info["server"]["max_k"], 1000);
}

#[test]
fn similar_answers_as_the_cli_does_by_id_and_by_title() {
    let server = &shared_server();
    let store = shared_library();
    let cli = stdout_json(&relate_in(
        store,
        &["similar", DP_SEQUENTIAL, "-k", "7", "--json"],
    ));
    let (status, by_title) =
        server.get_json(&format!("/api/similar?paper={}&k=7", enc(DP_SEQUENTIAL)));
    assert_eq!(status, 200, "{by_title}");
    assert_eq!(by_title, cli, "the same JSON as `relate similar --json`");
    assert_eq!(by_title["query"]["matched_by"], "title");
    assert!(
        by_title["results"][0]["topic"]["label"].is_string(),
        "saved topics are shown: {by_title}"
    );

    let id = cli["query"]["id"].as_str().unwrap();
    let (status, by_id) = server.get_json(&format!("/api/similar?paper={}", enc(id)));
    assert_eq!(status, 200);
    assert_eq!(by_id["query"]["matched_by"], "id");
    assert_eq!(by_id["query"]["k"], 10, "k defaults to 10");
    assert_eq!(ids(&by_id).len(), 10);
    assert_eq!(ids(&by_id)[..7], ids(&cli)[..]);
    assert!(
        !ids(&by_id).contains(&id.to_string()),
        "the paper itself is left out"
    );
}

#[test]
fn search_answers_as_the_cli_does() {
    let server = &shared_server();
    let text = "proving theorems with language models";
    let cli = stdout_json(&relate_in(
        shared_library(),
        &["search", text, "-k", "5", "--json"],
    ));
    let (status, answer) = server.get_json(&format!("/api/search?q={}&k=5", enc(text)));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["query"], cli["query"]);
    assert_same_results(&answer, &cli, 1e-4);
    // A theorem-proving paper first (TheoremLlama, Alchemy, DeepSeek-Prover...).
    assert!(answer["results"][0]["title"]
        .as_str()
        .unwrap()
        .to_lowercase()
        .contains("theorem"));
}

#[test]
fn recommend_takes_the_profile_as_json_and_answers_as_the_cli_does() {
    let server = &shared_server();
    let cli = stdout_json(&relate_in(
        shared_library(),
        &[
            "recommend",
            "--like",
            DP_SEQUENTIAL,
            "--like-text",
            "private federated learning@2",
            "--unlike",
            "dated-3",
            "--since",
            "2023",
            "-k",
            "4",
            "--json",
        ],
    ));
    let body = json!({
        "like": [DP_SEQUENTIAL],
        "like_text": [{"value": "private federated learning", "weight": 2}],
        "unlike": ["dated-3"],
        "since": "2023",
        "k": 4
    });
    let (status, answer) = server.post_json("/api/recommend", &body.to_string());
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["query"], cli["query"]);
    assert_same_results(&answer, &cli, 1e-4);
    assert!(!ids(&answer).is_empty());
    for row in answer["results"].as_array().unwrap() {
        assert!(
            row["date"].as_str().unwrap() >= "2023",
            "the date filter: {row}"
        );
        assert!(
            !row["because"]["positives"].as_array().unwrap().is_empty(),
            "each result has its reasons: {row}"
        );
    }
}

#[test]
fn recommend_keeps_to_a_topic_and_to_source_files_as_the_cli_does() {
    let server = &shared_server();
    let (_, paper) = server.get_json("/api/paper/dated-2");
    let topic = paper["topic"]["id"].as_u64().unwrap().to_string();
    let (_, members) = server.get_json(&format!("/api/topics/{topic}?k=1000"));
    let members: Vec<String> = members["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    let dated = root("tests/fixtures/recommend/dated.jsonl");

    let cli = stdout_json(&relate_in(
        shared_library(),
        &[
            "recommend",
            "--like",
            DP_SEQUENTIAL,
            "--topic",
            &topic,
            "-k",
            "5",
            "--json",
        ],
    ));
    let body = json!({"like": [DP_SEQUENTIAL], "topic": topic, "k": 5});
    let (status, answer) = server.post_json("/api/recommend", &body.to_string());
    assert_eq!(status, 200, "{answer}");
    assert_same_results(&answer, &cli, 1e-4);
    assert!(!ids(&answer).is_empty());
    for id in ids(&answer) {
        assert!(members.contains(&id), "{id} is not in topic {topic}");
    }

    let cli = stdout_json(&relate_in(
        shared_library(),
        &[
            "recommend",
            "--like",
            DP_SEQUENTIAL,
            "--source",
            &dated,
            "-k",
            "5",
            "--json",
        ],
    ));
    let body = json!({"like": [DP_SEQUENTIAL], "source": [dated], "k": 5});
    let (status, answer) = server.post_json("/api/recommend", &body.to_string());
    assert_eq!(status, 200, "{answer}");
    assert_same_results(&answer, &cli, 1e-4);
    assert!(!ids(&answer).is_empty());
    for id in ids(&answer) {
        assert!(id.starts_with("dated-"), "{id} is not from {dated}");
    }

    for (body, names) in [
        (json!({"like": [DP_SEQUENTIAL], "topic": "x.y"}), "'topic'"),
        (
            json!({"like": [DP_SEQUENTIAL], "topic": "99"}),
            "'topic': invalid topic: 99: there is no topic 99",
        ),
        (
            json!({"like": [DP_SEQUENTIAL], "source": [" "]}),
            "'source'",
        ),
    ] {
        let (status, answer) = server.post_json("/api/recommend", &body.to_string());
        assert_eq!(status, 400, "{body}: {answer}");
        let message = error_of(status, &answer);
        assert!(message.contains(names), "{body}: {message}");
    }
}

#[test]
fn paper_and_topics_endpoints_show_the_stored_record_and_saved_topics() {
    let server = &shared_server();
    let (status, paper) = server.get_json("/api/paper/dated-2");
    assert_eq!(status, 200, "{paper}");
    assert_eq!(
        paper["title"],
        "Private federated averaging under user-level differential privacy"
    );
    assert!(paper["abstract"].as_str().unwrap().contains("federated"));
    assert_eq!(paper["date"], "2024-02-10");
    assert!(paper["topic"]["label"].is_string(), "{paper}");

    let (status, topics) = server.get_json("/api/topics");
    assert_eq!(status, 200);
    assert_eq!(topics["status"], "fresh");
    let listed = topics["topics"].as_array().unwrap();
    assert!(listed.len() >= 2, "{topics}");
    let sizes: u64 = listed.iter().map(|t| t["size"].as_u64().unwrap()).sum();
    assert_eq!(sizes + topics["outliers"].as_u64().unwrap(), 67);
    assert!(listed
        .iter()
        .any(|t| t["label"] == paper["topic"]["label"] && t["id"] == paper["topic"]["id"]));
    // Subtopics nest inside their topic and never hold more papers than it.
    for t in listed {
        let subs = t["subtopics"].as_array().unwrap();
        let in_subs: u64 = subs.iter().map(|s| s["size"].as_u64().unwrap()).sum();
        assert!(in_subs <= t["size"].as_u64().unwrap(), "{t}");
    }

    // A topic's members, closest to its centre first, as `topics --show`.
    let topic = paper["topic"]["id"].as_u64().unwrap();
    let (status, members) = server.get_json(&format!("/api/topics/{topic}?k=1000"));
    assert_eq!(status, 200, "{members}");
    assert_eq!(members["topic"], topic.to_string());
    assert_eq!(members["label"], paper["topic"]["label"]);
    let rows = members["members"].as_array().unwrap();
    let size = listed.iter().find(|t| t["id"] == topic).unwrap()["size"].clone();
    assert_eq!(rows.len() as u64, size.as_u64().unwrap());
    assert_eq!(members["size"], size);
    assert!(rows.iter().any(|r| r["id"] == "dated-2"), "{members}");
    let scores: Vec<f64> = rows.iter().map(|r| r["score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    let (status, first) = server.get_json(&format!("/api/topics/{topic}?k=1"));
    assert_eq!(status, 200);
    assert_eq!(first["members"].as_array().unwrap().len(), 1);
    assert_eq!(first["members"][0]["id"], rows[0]["id"]);

    let (status, body) = server.get_json("/api/topics/99");
    assert_eq!(status, 404, "{body}");
    let (status, body) = server.get_json("/api/topics/x.y");
    assert_eq!(status, 400, "{body}");
}

#[test]
fn bad_parameters_are_400_and_name_the_parameter() {
    let server = &shared_server();
    let id = "dated-1";
    for (path, needle) in [
        (format!("/api/similar?paper={id}&k=0"), "'k'"),
        (format!("/api/similar?paper={id}&k=1001"), "from 1 to 1000"),
        (format!("/api/similar?paper={id}&k=ten"), "'k' is 'ten'"),
        ("/api/similar".to_string(), "'paper'"),
        ("/api/similar?paper=%20".to_string(), "'paper'"),
        (
            format!("/api/similar?paper={id}&kk=3"),
            "unknown parameter 'kk'",
        ),
        ("/api/search?k=3".to_string(), "'q'"),
        ("/api/search?q=".to_string(), "'q'"),
    ] {
        let (status, body) = server.get_json(&path);
        assert_eq!(status, 400, "{path}: {body}");
        let message = error_of(400, &body);
        assert!(message.contains(needle), "{path}: {message}");
    }
    for (body, needle) in [
        ("{\"like\": [\"dated-1\"", "not a recommend profile"),
        ("{\"unlike\": [\"dated-1\"]}", "no positive example"),
        ("{\"like\": [\"dated-1\"], \"k\": 0}", "'k'"),
        ("{\"like\": [\"dated-1\"], \"since\": \"May\"}", "'since'"),
        (
            "{\"like\": [\"dated-1\"], \"since\": \"2025\", \"until\": \"2024\"}",
            "swap them",
        ),
        (
            "{\"like\": [\"dated-1\"], \"scorer\": \"best\"}",
            "'scorer'",
        ),
        ("{\"like\": [\"dated-1\"], \"likes\": []}", "unknown field"),
        (
            "{\"like\": [{\"value\": \"dated-1\", \"weight\": -1}]}",
            "weight",
        ),
    ] {
        let (status, answer) = server.post_json("/api/recommend", body);
        assert_eq!(status, 400, "{body}: {answer}");
        let message = error_of(400, &answer);
        assert!(message.contains(needle), "{body}: {message}");
    }
}

#[test]
fn unknown_papers_and_pages_are_404() {
    let server = &shared_server();
    for path in [
        "/api/similar?paper=no-such-paper-anywhere-xyz",
        "/api/paper/no-such-paper",
        "/api/nothing-here",
    ] {
        let (status, body) = server.get_json(path);
        assert_eq!(status, 404, "{path}: {body}");
        assert!(!error_of(404, &body).is_empty());
    }
    let (status, body) = server.post_json("/api/recommend", "{\"like\": [\"no-such-paper-xyz\"]}");
    assert_eq!(status, 404, "{body}");
    assert!(error_of(404, &body).contains("no-such-paper-xyz"));
}

#[test]
fn wrong_methods_and_undecodable_paths_get_json_errors() {
    let server = &shared_server();
    let (status, body) = server.post_json("/api/search", "{}");
    assert_eq!(status, 405, "{body}");
    let message = error_of(405, &body);
    assert!(
        message.contains("POST") && message.contains("GET"),
        "{message}"
    );
    let (status, body) = server.get_json("/api/recommend");
    assert_eq!(status, 405, "{body}");
    assert!(error_of(405, &body).contains("POST"), "{body}");
    let (status, body) = server.get_json("/api/paper/%FF");
    assert_eq!(status, 400, "{body}");
    assert!(error_of(400, &body).contains("UTF-8"), "{body}");
}

#[test]
fn too_large_texts_and_bodies_are_413() {
    let server = &shared_server();
    let long = "word ".repeat(500);
    let (status, body) = server.get_json(&format!("/api/search?q={}", enc(&long)));
    assert_eq!(status, 413, "{body}");
    assert!(error_of(413, &body).contains("at most 2000"));

    let big = json!({"like": ["dated-1"], "exclude": vec!["x".repeat(100); 1000]});
    let (status, body) = server.post_json("/api/recommend", &big.to_string());
    assert_eq!(status, 413, "{body}");
    assert!(error_of(413, &body).contains("65536 bytes"));

    let many: Vec<String> = (0..101).map(|i| format!("text {i}")).collect();
    let (status, body) =
        server.post_json("/api/recommend", &json!({ "like_text": many }).to_string());
    assert_eq!(status, 413, "{body}");
    assert!(error_of(413, &body).contains("at most 100"));
}

#[test]
fn the_page_searches_shows_papers_and_draws_the_map() {
    let server = &shared_server();
    let (status, home) = server.get("/");
    assert_eq!(status, 200);
    assert!(home.contains("<input id=\"q\" name=\"q\""), "{home}");
    assert!(home.contains("67 papers"));

    // A free text is searched; an exact title shows related papers.
    let (status, found) = server.get(&format!("/?q={}", enc("theorem proving in Lean")));
    assert_eq!(status, 200);
    assert!(found.contains("Papers about"), "{found}");
    assert!(found.contains("LeanAgent"), "{found}");
    assert!(found.contains("class=\"topic\""), "topics are shown");
    let (status, related) = server.get(&format!("/?q={}", enc(DP_SEQUENTIAL)));
    assert_eq!(status, 200);
    assert!(related.contains("Papers related to"), "{related}");

    let (status, paper) = server.get("/paper/dated-2");
    assert_eq!(status, 200);
    assert!(paper.contains("user-level differential privacy"));
    assert!(paper.contains("More like this") && paper.contains("Less like this"));
    assert!(paper.contains("Related papers"));
    let (status, missing) = server.get("/paper/no-such-paper");
    assert_eq!(status, 404);
    assert!(missing.contains("no-such-paper"));

    let (status, script) = server.get("/static/page.js");
    assert_eq!(status, 200);
    assert!(script.contains("/api/recommend"));
    let (status, css) = server.get("/static/page.css");
    assert_eq!(status, 200);
    assert!(css.contains("prefers-color-scheme: dark"));

    // The map is drawn on first request: 503 with Retry-After until then.
    let response = agent().get(&server.url("/map")).call().unwrap();
    assert_eq!(response.status().as_u16(), 503);
    assert!(response.headers().get("retry-after").is_some());
    let start = Instant::now();
    let map = loop {
        let (status, body) = server.get("/map");
        if status == 200 {
            break body;
        }
        assert_eq!(status, 503, "{body}");
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "map never drawn"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(map.contains("<svg"), "the topic map page");
    assert!(map.contains("Topic map"));
}

#[test]
fn many_clients_at_once_get_the_answers_one_client_gets() {
    let server = &shared_server();
    let papers = ["dated-1", "dated-2", "dated-4", DP_SEQUENTIAL];
    let texts = [
        "differential privacy",
        "mathematical reasoning with large language models",
        "federated learning on phones",
        "formal theorem proving",
    ];
    let paths: Vec<String> = papers
        .iter()
        .map(|p| format!("/api/similar?paper={}&k=8", enc(p)))
        .chain(
            texts
                .iter()
                .map(|t| format!("/api/search?q={}&k=8", enc(t))),
        )
        .collect();
    let alone: Vec<Value> = paths
        .iter()
        .map(|p| {
            let (status, v) = server.get_json(p);
            assert_eq!(status, 200, "{p}: {v}");
            v
        })
        .collect();
    let together: Vec<Vec<Value>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..24)
            .map(|client| {
                let paths = &paths;
                scope.spawn(move || {
                    (0..paths.len())
                        .map(|i| {
                            let path = &paths[(i + client) % paths.len()];
                            let (status, v) = server.get_json(path);
                            assert_eq!(status, 200, "{path}: {v}");
                            v
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (client, answers) in together.iter().enumerate() {
        for (i, answer) in answers.iter().enumerate() {
            let expected = &alone[(i + client) % paths.len()];
            assert_eq!(answer["query"], expected["query"]);
            assert_same_results(answer, expected, 1e-4);
        }
    }
}

#[test]
fn a_library_changed_by_ingest_is_picked_up_and_sigterm_stops_the_server() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("serve_reload");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let store = dir.join("library");
    succeed(&relate_in(
        &store,
        &["ingest", &root("tests/fixtures/recommend/dated.jsonl")],
    ));
    let server = Server::start(&store, &["--reload-every", "1"]);
    let (_, before) = server.get_json("/healthz");
    let (status, _) = server.get_json("/api/paper/new-1");
    assert_eq!(status, 404);

    let new = dir.join("new.jsonl");
    fs::write(
        &new,
        "{\"id\": \"new-1\", \"title\": \"Coral reef monitoring with underwater drones\", \
         \"abstract\": \"We survey coral reefs with autonomous underwater vehicles and count \
         bleached corals in their images.\"}\n",
    )
    .unwrap();
    succeed(&relate_in(&store, &["ingest", new.to_str().unwrap()]));

    let start = Instant::now();
    loop {
        let (status, health) = server.get_json("/healthz");
        assert_eq!(
            status, 200,
            "the old library is served until the new one is loaded"
        );
        if health["generation"] != before["generation"] {
            assert_eq!(health["papers"], before["papers"].as_u64().unwrap() + 1);
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "change not picked up"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, paper) = server.get_json("/api/paper/new-1");
    assert_eq!(status, 200, "{paper}");
    let (status, found) = server.get_json(&format!(
        "/api/search?q={}&k=1",
        enc("underwater coral reef survey")
    ));
    assert_eq!(status, 200);
    assert_eq!(ids(&found), ["new-1"]);

    let (status, stderr) = server.terminate();
    assert!(
        status.success(),
        "exit {status:?} after SIGTERM; stderr: {stderr}"
    );
    assert!(stderr.contains("shutting down"), "{stderr}");
}

#[test]
fn requests_in_flight_at_sigterm_are_answered_in_full() {
    let server = Server::start(shared_library(), &["--timeout", "300"]);
    let words = [
        "private",
        "federated",
        "graph",
        "robot",
        "theorem",
        "diffusion",
        "regret",
        "language",
        "protein",
        "reef",
    ];
    let text = |i: usize| {
        let body: Vec<&str> = (0..60)
            .map(|j| words[(i * 7 + j * 3 + j / 5) % words.len()])
            .collect();
        format!("study {i}: {}", body.join(" "))
    };
    // How long one such request takes here, to send enough of them (each
    // a different text) that the model is busy for about a second.
    let start = Instant::now();
    let (status, _) = server.get_json(&format!("/api/search?q={}&k=3", enc(&text(0))));
    assert_eq!(status, 200);
    let one = start.elapsed().as_secs_f64().max(1e-3);
    let count = ((1.0 / one).ceil() as usize).clamp(4, 64);
    let texts: Vec<String> = (1..=count).map(text).collect();
    let (sent_signal, answers) = std::thread::scope(|scope| {
        let handles: Vec<_> = texts
            .iter()
            .map(|text| {
                let server = &server;
                scope.spawn(move || {
                    let (status, answer) =
                        server.get_json(&format!("/api/search?q={}&k=3", enc(text)));
                    (status, answer, Instant::now())
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(100));
        server.send_sigterm();
        let sent = Instant::now();
        let answers: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        (sent, answers)
    });
    for (status, answer, _) in &answers {
        assert_eq!(status, &200, "{answer}");
        assert_eq!(ids(answer).len(), 3, "{answer}");
    }
    let after = answers.iter().filter(|a| a.2 > sent_signal).count();
    assert!(
        after > 0,
        "all {count} answers came before SIGTERM (one took {one:.3} s): no request was in flight"
    );
    let (status, stderr) = server.wait_exit();
    assert!(status.success(), "exit {status:?}; stderr: {stderr}");
}

#[test]
fn a_saved_index_is_used_once_loaded_and_answers_as_the_cli_does() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("serve_index");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let store = dir.join("library");
    succeed(&relate_in(
        &store,
        &["ingest", &root("data/daily-papers-sample.txt")],
    ));
    succeed(&relate_in(&store, &["index"]));
    let server = Server::start(&store, &[]);
    let start = Instant::now();
    loop {
        let (_, info) = server.get_json("/api/info");
        if info["server"]["search"] == "hnsw" {
            break;
        }
        assert_eq!(
            info["server"]["search"], "exact",
            "exact until the index is loaded"
        );
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "index never loaded"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let cli = stdout_json(&relate_in(
        &store,
        &["similar", DP_SEQUENTIAL, "--hnsw", "-k", "5", "--json"],
    ));
    let (status, answer) =
        server.get_json(&format!("/api/similar?paper={}&k=5", enc(DP_SEQUENTIAL)));
    assert_eq!(status, 200);
    assert_eq!(answer["query"]["method"], "hnsw");
    assert_eq!(
        answer, cli,
        "the same JSON as `relate similar --hnsw --json`"
    );
}

#[test]
fn a_missing_library_or_a_taken_port_fails_at_start() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("serve_missing");
    let _ = fs::remove_dir_all(&dir);
    let out = relate_in(&dir, &["serve", "--addr", "127.0.0.1:0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no library at"));

    let server = &shared_server();
    let port = server.base.rsplit(':').next().unwrap();
    let out = relate_in(
        shared_library(),
        &["serve", "--addr", &format!("127.0.0.1:{port}")],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bind"), "{stderr}");

    let out = relate_in(shared_library(), &["serve", "--addr", "localhost"]);
    assert_eq!(out.status.code(), Some(2), "bad usage");
}
