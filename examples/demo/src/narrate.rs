//! How the demo talks: numbered steps, indented evidence, passed-through lines.
//!
//! The demo exists to be read by someone deciding whether to trust wasmvisor,
//! so every claim is printed next to the fact that proves it, and the
//! supervisor's and node's own lines appear verbatim (marked by a gutter) so
//! nothing is paraphrased.

use std::io::{IsTerminal, Write};
use std::sync::OnceLock;

fn colour() -> bool {
    static COLOUR: OnceLock<bool> = OnceLock::new();
    *COLOUR
        .get_or_init(|| std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none())
}

fn paint(code: &str, text: &str) -> String {
    if colour() {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}

fn emit(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// A step's heading.
pub fn step(number: usize, total: usize, title: &str) {
    emit("");
    emit(&paint("1", &format!("[{number}/{total}] {title}")));
}

/// An explanation of what is about to happen.
pub fn say(text: &str) {
    emit(&format!("      {text}"));
}

/// A checked fact.
pub fn evidence(label: &str, value: &str) {
    emit(&format!("      {} {label}: {value}", paint("32", "✓")));
}

/// A line printed by wasmvisor or the node, shown verbatim.
pub fn passthrough(stream: Stream, line: &str) {
    let gutter = match stream {
        Stream::Stdout => "      │ ",
        Stream::Stderr => "      ┆ ",
    };
    emit(&format!("{}{line}", paint("2", gutter)));
}

/// The final line of a failed run.
pub fn failure(text: &str) {
    emit("");
    emit(&paint("1;31", &format!("✗ {text}")));
}

/// The final line of a successful run.
pub fn success(text: &str) {
    emit("");
    emit(&paint("1;32", &format!("✓ {text}")));
}

#[derive(Debug, Clone, Copy)]
pub enum Stream {
    Stdout,
    Stderr,
}
