//! Progress display on standard error: bars and spinners in indicatif's
//! templates, drawn only when standard error is a terminal (hidden
//! otherwise, so that logs and pipes get the commands' own summary lines).

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// Whether progress is drawn: standard error is a terminal.
pub(crate) fn shown() -> bool {
    std::io::stderr().is_terminal()
}

/// A bar of `len` steps drawn with `template`; hidden when progress is not
/// shown.
pub(crate) fn bar(len: u64, template: &str) -> ProgressBar {
    if !shown() {
        return ProgressBar::hidden();
    }
    ProgressBar::new(len).with_style(bar_style(template))
}

/// A spinner for work of unknown length, drawn with `template`; hidden when
/// progress is not shown.
pub(crate) fn spinner(template: &str) -> ProgressBar {
    if !shown() {
        return ProgressBar::hidden();
    }
    ProgressBar::new_spinner().with_style(
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_spinner()),
    )
}

/// The style of a bar drawn with `template` (indicatif's plain bar if the
/// template does not parse).
pub(crate) fn bar_style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_in_use_parses() {
        for template in [
            "{bar:40} {pos}/{len} lines  {per_sec}  eta {eta}",
            "{spinner} {pos} lines  {per_sec}",
            "{bar:40} {pos}/{len} papers linked  {per_sec}  eta {eta}",
            "{spinner} {prefix} {msg}",
            "{prefix} [{wide_bar}] {bytes}/{total_bytes}, {eta} left: {msg}",
        ] {
            assert!(ProgressStyle::with_template(template).is_ok(), "{template}");
        }
    }
}
