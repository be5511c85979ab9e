//! Helpers the bench targets share (`mod common;` in each, which Cargo finds here):
//! a loopback HTTP server, so each bench writes only its routing and answers, and
//! the order statistics their figures are printed with.

pub mod http;
pub mod samples;
