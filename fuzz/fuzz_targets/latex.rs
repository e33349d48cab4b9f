//! LaTeX cleaning over arbitrary text: it must not panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = relate::corpus::latex_to_text(text);
});
