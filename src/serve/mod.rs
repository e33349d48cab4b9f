//! `relate serve`: an HTTP server over one library. This module owns the
//! server's state and life: it opens the library and loads the model once,
//! binds the address, loads the searchable snapshot (vectors, the HNSW index
//! when a current one is saved, the topic assignment) in the background,
//! replaces that snapshot whole when the library changes, and shuts down
//! gracefully on Ctrl-C or SIGTERM. The routes live in [`api`] (JSON) and
//! [`page`] (HTML); text embedding runs on one worker thread
//! ([`embed_queue`]) that batches the texts of concurrent requests.
//!
//! A snapshot is built from one committed library generation and swapped in
//! atomically only once it is complete, so a request sees either the old
//! library or the new one, never a half-written state. Changes are noticed
//! by polling the library's generation, the saved index's stamp and the
//! topics file every [`ServeOptions::reload_every`], or at once on SIGHUP.

pub mod api;
pub mod embed_queue;
pub mod page;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwapOption;
use axum::extract::DefaultBodyLimit;
use axum::Router;

use crate::embed::EmbedderOptions;
use crate::index::AUTO_MIN_RECALL;
use crate::library_index;
use crate::library_info::LibraryInfo;
use crate::query::{SearchMethod, Searcher};
use crate::store::Library;
use crate::wording::count;
use crate::{Error, Result};

pub use api::ApiError;
use embed_queue::EmbedQueue;

/// Most results one request may ask for.
pub const MAX_K: usize = 1000;
/// Longest free text (a search query, a liked text), in characters.
pub const MAX_TEXT_CHARS: usize = 2000;
/// Largest request body, in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Most examples (liked plus unliked) in one recommend request.
pub const MAX_EXAMPLES: usize = 100;
/// Texts waiting for the model beyond which new embedding requests are
/// refused with 503.
pub const MAX_QUEUED_TEXTS: usize = 4096;

/// How the server is run.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The library folder.
    pub store: PathBuf,
    /// Address to bind; port 0 picks a free port.
    pub addr: SocketAddr,
    /// The model for free-text queries (the library's model).
    pub model: EmbedderOptions,
    /// How often the library is checked for changes.
    pub reload_every: Duration,
    /// Longest time one request may take before it is answered with 503.
    pub request_timeout: Duration,
}

/// What identifies the library state a snapshot was built from.
#[derive(Debug, Clone, PartialEq, Eq)]
struct StateKey {
    generation: u64,
    index_generation: Option<u64>,
    topics_file: Option<(SystemTime, u64)>,
}

impl StateKey {
    fn read(library: &Library) -> Result<StateKey> {
        let topics_file = std::fs::metadata(library.index_dir().join("topics.json"))
            .ok()
            .and_then(|m| Some((m.modified().ok()?, m.len())));
        Ok(StateKey {
            generation: library.generation()?,
            index_generation: library_index::saved_generation(library),
            topics_file,
        })
    }
}

/// One searchable state of the library: its vectors with the search
/// structure chosen for them, and read handles on its database.
pub struct Snapshot {
    key: StateKey,
    dir: PathBuf,
    pub searcher: Searcher,
    pub info: LibraryInfo,
    /// Idle read handles; the database connection of a handle is used by
    /// one request at a time.
    handles: Mutex<Vec<Library>>,
    /// The topic map page, drawn on first request.
    pub map: Mutex<page::MapState>,
    pub loaded_at: SystemTime,
}

impl Snapshot {
    /// Builds a snapshot of the library in `dir` as it is now: with
    /// `use_index`, the saved HNSW index when it is current, else exact
    /// search.
    fn load(dir: &Path, use_index: bool) -> Result<Snapshot> {
        let library = Library::open(dir)?;
        let key = StateKey::read(&library)?;
        let mut searcher = if use_index && library_index::is_fresh(&library)? {
            match Searcher::open(&library, SearchMethod::Hnsw) {
                Ok(searcher) if !searcher.index_worth_using() => {
                    eprintln!(
                        "relate: the saved index's tuned recall is below {AUTO_MIN_RECALL}; \
                         using exact search"
                    );
                    Searcher::open(&library, SearchMethod::Exact)?
                }
                Ok(mut searcher) => {
                    searcher.quantize_traversal();
                    searcher
                }
                Err(e) => {
                    eprintln!("relate: cannot load the saved index ({e}); using exact search");
                    Searcher::open(&library, SearchMethod::Exact)?
                }
            }
        } else {
            Searcher::open(&library, SearchMethod::Exact)?
        };
        // Queries follow one another: the pages an exact search reads stay.
        searcher.keep_pages_resident();
        let info = LibraryInfo::read(&library, dir.display().to_string())?;
        Ok(Snapshot {
            key,
            dir: dir.to_path_buf(),
            searcher,
            info,
            handles: Mutex::new(vec![library]),
            map: Mutex::new(page::MapState::NotStarted),
            loaded_at: SystemTime::now(),
        })
    }

    /// Runs `f` with a read handle on the library, opening one when all
    /// are busy.
    pub fn with_library<T>(&self, f: impl FnOnce(&Library) -> Result<T>) -> Result<T> {
        let idle = self.handles.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let library = match idle {
            Some(library) => library,
            None => Library::open(&self.dir)?,
        };
        let out = f(&library);
        self.handles
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(library);
        out
    }

    /// The library generation this snapshot serves.
    pub fn generation(&self) -> u64 {
        self.key.generation
    }
}

/// Everything the handlers share.
pub struct AppState {
    /// `None` until the first snapshot is loaded.
    pub snapshot: ArcSwapOption<Snapshot>,
    pub embedder: EmbedQueue,
    pub model_id: String,
    pub request_timeout: Duration,
    pub reload_every: Duration,
    /// Requests working on the library at once; the others wait their
    /// turn without holding a thread or a database connection.
    pub workers: tokio::sync::Semaphore,
}

impl AppState {
    /// The current snapshot, or 503 while the library is loading.
    pub fn current(&self) -> std::result::Result<Arc<Snapshot>, ApiError> {
        self.snapshot
            .load_full()
            .ok_or_else(|| ApiError::not_ready("the library is still loading; retry in a moment"))
    }

    /// Waits for this request's turn to work on the library (see
    /// [`AppState::workers`]); 503 once the server is shutting down.
    pub async fn turn(&self) -> std::result::Result<tokio::sync::SemaphorePermit<'_>, ApiError> {
        self.workers
            .acquire()
            .await
            .map_err(|_| ApiError::not_ready("the server is shutting down"))
    }
}

/// Requests that run on blocking threads at once: twice the cores, at
/// least 4.
fn blocking_workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get() * 2)
        .unwrap_or(4)
        .max(4)
}

/// The server's routes over `state`.
pub fn router(state: Arc<AppState>) -> Router {
    let timeout = state.request_timeout;
    Router::new()
        .merge(api::routes())
        .merge(page::routes())
        .layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                api::with_timeout(timeout, req, next)
            },
        ))
        .layer(axum::middleware::from_fn(api::json_errors))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// Runs the server until Ctrl-C or SIGTERM. The bound address is printed
/// on standard output as `listening on http://ADDR` once the socket accepts
/// connections (the library may still be loading then: `/healthz` answers
/// 503 until it is ready).
pub async fn run(options: ServeOptions) -> Result<()> {
    let started = Instant::now();
    // Fail early, before binding, on a missing library or a wrong model.
    let library = Library::open(&options.store)?;
    let (embedder, model_id) = EmbedQueue::start(options.model.clone(), &library)?;
    drop(library);

    let listener = tokio::net::TcpListener::bind(options.addr)
        .await
        .map_err(|e| Error::io("bind", Path::new(&options.addr.to_string()), e))?;
    let bound = listener
        .local_addr()
        .map_err(|e| Error::io("bind", Path::new(&options.addr.to_string()), e))?;
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        // A closed standard output must not stop the server.
        let _ = writeln!(out, "listening on http://{bound}");
        let _ = out.flush();
    }

    let state = Arc::new(AppState {
        snapshot: ArcSwapOption::empty(),
        embedder,
        model_id,
        request_timeout: options.request_timeout,
        reload_every: options.reload_every,
        workers: tokio::sync::Semaphore::new(blocking_workers()),
    });
    tokio::spawn(keep_current(
        state.clone(),
        options.store.clone(),
        options.reload_every,
        started,
    ));

    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| Error::io("serve on", Path::new(&bound.to_string()), e))?;
    eprintln!("relate: server stopped");
    Ok(())
}

/// Loads the first snapshot, then replaces it whenever the library's state
/// changes (checked every `every`) or SIGHUP arrives. The first snapshot
/// searches exactly, so the server is ready before a saved index (seconds
/// to load on a large library) is loaded; a snapshot with the index
/// replaces it at once.
async fn keep_current(state: Arc<AppState>, dir: PathBuf, every: Duration, started: Instant) {
    let mut hangup = hangup_signal();
    let mut forced = true;
    let mut first = true;
    loop {
        let current = state.snapshot.load_full();
        let dir2 = dir.clone();
        let old_key = current.as_ref().map(|s| s.key.clone());
        let use_index = !first;
        let loading = Instant::now();
        let outcome = tokio::task::spawn_blocking(move || -> Result<Option<Snapshot>> {
            if !forced {
                let library = Library::open(&dir2)?;
                if old_key.as_ref() == Some(&StateKey::read(&library)?) {
                    return Ok(None);
                }
            }
            Snapshot::load(&dir2, use_index).map(Some)
        })
        .await;
        match outcome {
            Ok(Ok(Some(snapshot))) => {
                eprintln!(
                    "relate: {} {} (generation {}, {} search) in {:.2}s{}",
                    if current.is_some() {
                        "reloaded"
                    } else {
                        "loaded"
                    },
                    count(snapshot.searcher.len(), "paper"),
                    snapshot.generation(),
                    snapshot.searcher.method_name(),
                    loading.elapsed().as_secs_f64(),
                    if current.is_some() {
                        String::new()
                    } else {
                        format!(
                            ", ready {:.2}s after start",
                            started.elapsed().as_secs_f64()
                        )
                    }
                );
                state.snapshot.store(Some(Arc::new(snapshot)));
            }
            Ok(Ok(None)) => {}
            // The last good snapshot stays in service.
            Ok(Err(e)) => eprintln!("relate: cannot load the library: {e}"),
            Err(e) => eprintln!("relate: loading the library failed: {e}"),
        }
        if first {
            // Load the index (when there is a current one) right away.
            first = false;
            let fresh = state.snapshot.load_full().is_some_and(|s| {
                s.key.index_generation == Some(s.key.generation)
                    && s.searcher.method_name() == "exact"
            });
            if fresh {
                forced = true;
                continue;
            }
        }
        forced = tokio::select! {
            _ = tokio::time::sleep(every) => false,
            _ = hangup.recv() => true,
        };
    }
}

/// A stream of SIGHUP (never firing where there are no such signals).
struct Hangup {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
}

impl Hangup {
    async fn recv(&mut self) {
        #[cfg(unix)]
        if let Some(signal) = &mut self.signal {
            signal.recv().await;
            return;
        }
        std::future::pending::<()>().await
    }
}

fn hangup_signal() -> Hangup {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        Hangup {
            signal: signal(SignalKind::hangup()).ok(),
        }
    }
    #[cfg(not(unix))]
    Hangup {}
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    eprintln!("relate: shutting down; finishing requests in flight");
}
