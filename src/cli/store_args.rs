//! The `--store` flag shared by every subcommand that uses the library, and
//! `--wait`, shared by those that write to it.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use relate::store::default_store_dir;

#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Library folder [default: $XDG_DATA_HOME/relate, or ~/.local/share/relate]
    #[arg(long, env = "RELATE_STORE", value_name = "DIR", global = true)]
    pub store: Option<PathBuf>,
}

/// How long a command that writes to the library waits for another writer.
#[derive(Debug, Clone, Args)]
pub struct WaitArgs {
    /// Seconds to wait while another relate process writes to the library,
    /// before giving up with an error that names it (0 to 86,400)
    #[arg(long, value_name = "SECS", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub wait: u64,
}

impl WaitArgs {
    pub fn duration(&self) -> Duration {
        Duration::from_secs(self.wait)
    }
}

impl StoreArgs {
    pub fn dir(&self) -> anyhow::Result<PathBuf> {
        match &self.store {
            Some(dir) => Ok(dir.clone()),
            None => Ok(default_store_dir()?),
        }
    }
}
