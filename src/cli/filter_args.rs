//! The date and category flags that `ingest` and `recommend` share, and the
//! usage error for flags that contradict each other.

use clap::Args;
use relate::paper_filter::{PartialDate, RecordFilter};

#[derive(Debug, Clone, Default, Args)]
pub struct FilterArgs {
    /// Only papers with a category starting with CAT (repeatable: any of them)
    #[arg(long, value_name = "CAT")]
    pub category: Vec<String>,

    /// Only papers dated on or after DATE (YYYY, YYYY-MM or YYYY-MM-DD)
    #[arg(long, value_name = "DATE")]
    pub since: Option<PartialDate>,

    /// Only papers dated on or before DATE (YYYY, YYYY-MM or YYYY-MM-DD)
    #[arg(long, value_name = "DATE")]
    pub until: Option<PartialDate>,
}

impl FilterArgs {
    /// The filter the flags describe. Exits as for a usage error (status
    /// 2) when they contradict each other (`--since` after `--until`, an
    /// empty `--category`), so that no run can keep nothing by mistake.
    pub fn filter(&self) -> RecordFilter {
        let filter = RecordFilter {
            since: self.since,
            until: self.until,
            categories: self.category.clone(),
        };
        if let Err(problem) = filter.check() {
            clap::Error::raw(
                clap::error::ErrorKind::ArgumentConflict,
                format!("{problem}\n"),
            )
            .exit();
        }
        filter
    }
}
