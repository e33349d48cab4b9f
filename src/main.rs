//! The `relate` command: parses arguments, runs one subcommand, and turns the
//! outcome into a message and an exit code (0 success, 1 error, 2 bad usage,
//! 3 finished but some input records were skipped). A closed output pipe
//! (`relate ... | head`) ends the program quietly.

use std::process::ExitCode;

use clap::Parser;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod cli;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(outcome) => outcome.exit_code(),
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            eprintln!("relate: error: {err:#}");
            ExitCode::from(1)
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    use std::io::ErrorKind::BrokenPipe;
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == BrokenPipe)
            || cause
                .downcast_ref::<serde_json::Error>()
                .is_some_and(|e| e.io_error_kind() == Some(BrokenPipe))
            || matches!(
                cause.downcast_ref::<relate::Error>(),
                Some(relate::Error::Io { cause, .. }) if cause.kind() == BrokenPipe
            )
    })
}
