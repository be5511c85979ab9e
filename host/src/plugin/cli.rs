//! `wasmvisor plugin …` subcommands (to be written).
