//! Order statistics over a set of trials, in nanoseconds.

/// Median and 99th percentile (nearest rank: with 50 trials, the p99 is the maximum).
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    pub n: usize,
    pub median_ns: u64,
    pub p99_ns: u64,
}

pub fn summarize(samples: &[u64]) -> Summary {
    let mut s = samples.to_vec();
    s.sort_unstable();
    if s.is_empty() {
        return Summary {
            n: 0,
            median_ns: 0,
            p99_ns: 0,
        };
    }
    let median_ns = if s.len() % 2 == 1 {
        s[s.len() / 2]
    } else {
        (s[s.len() / 2 - 1] + s[s.len() / 2]) / 2
    };
    Summary {
        n: s.len(),
        median_ns,
        p99_ns: nearest_rank(&s, 0.99),
    }
}

fn nearest_rank(sorted: &[u64], q: f64) -> u64 {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn ms(ns: u64) -> String {
    format!("{:.2} ms", ns as f64 / 1e6)
}

pub fn signed_ms(ns: i64) -> String {
    format!("{:+.2} ms", ns as f64 / 1e6)
}
