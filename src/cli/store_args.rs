//! The `--store` flag shared by every subcommand that uses the library.

use std::path::PathBuf;

use clap::Args;
use relate::store::default_store_dir;

#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Library folder [default: $XDG_DATA_HOME/relate, or ~/.local/share/relate]
    #[arg(long, env = "RELATE_STORE", value_name = "DIR", global = true)]
    pub store: Option<PathBuf>,
}

impl StoreArgs {
    pub fn dir(&self) -> anyhow::Result<PathBuf> {
        match &self.store {
            Some(dir) => Ok(dir.clone()),
            None => Ok(default_store_dir()?),
        }
    }
}
