//! `relate serve`: runs the HTTP API and browser page over one library
//! (see [`relate::serve`]) until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use relate::serve::{self, ServeOptions};

use super::model_args::ModelArgs;
use super::store_args::StoreArgs;
use super::Outcome;

/// How long background work may delay the exit after the last request.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, Args)]
#[command(
    after_help = "Serves the JSON API (/api/similar, /api/search, /api/recommend, /api/paper/ID, \
/api/topics, /api/info, /healthz) and a page for the browser at / (the topic map at /map). \
Prints `listening on http://ADDR` on standard output once it accepts connections. Binds to \
the loopback address unless --addr names another one; port 0 picks a free port.\n\n\
The library is checked for changes (a `relate ingest`, `relate index` or `relate topics` run) \
every --reload-every seconds, and at once on SIGHUP; the new state replaces the old one only \
when fully loaded. Similar and search use the saved HNSW index when it is current, else exact \
search. Ctrl-C or SIGTERM stops the server after the requests in flight finish.\n\n\
Exit status: 0 after a shutdown, 1 on error (no library, wrong model, address in use), 2 on \
bad usage."
)]
pub struct ServeArgs {
    /// Address and port to listen on
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "IP:PORT")]
    pub addr: SocketAddr,

    /// Seconds between checks for a changed library, 1 to 3,600
    #[arg(long, default_value_t = 2, value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub reload_every: u64,

    /// Longest time one request may take, in seconds (1 to 3,600), before it
    /// is answered with 503
    #[arg(long, default_value_t = 30, value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,

    #[command(flatten)]
    pub store: StoreArgs,

    #[command(flatten)]
    pub model: ModelArgs,
}

pub fn run(args: ServeArgs) -> anyhow::Result<Outcome> {
    let dir = args.store.dir()?;
    let options = ServeOptions {
        store: dir.clone(),
        addr: args.addr,
        model: args.model.options(),
        reload_every: Duration::from_secs(args.reload_every),
        request_timeout: Duration::from_secs(args.timeout),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the server's runtime")?;
    let served = runtime.block_on(serve::run(options));
    // Work no request waits for any more (a map being drawn) is not
    // waited for long.
    runtime.shutdown_timeout(SHUTDOWN_GRACE);
    served.with_context(|| format!("cannot serve the library at {}", dir.display()))?;
    Ok(Outcome::Complete)
}
