//! Timed samples: taking them (a measured workload interleaved with its baseline),
//! their order statistics, and the units the benches print them in.

use std::time::{Duration, Instant};

/// `rounds` timings each of `measured` and `baseline`, alternating within every
/// round so that load and drift during the run hit both alike. Results go through
/// `black_box`, so neither side can be optimised away.
pub async fn interleaved<A, B>(
    rounds: usize,
    mut measured: impl AsyncFnMut() -> A,
    mut baseline: impl AsyncFnMut() -> B,
) -> (Vec<Duration>, Vec<Duration>) {
    let (mut m, mut b) = (Vec::with_capacity(rounds), Vec::with_capacity(rounds));
    for _ in 0..rounds {
        let t = Instant::now();
        std::hint::black_box(measured().await);
        m.push(t.elapsed());
        let t = Instant::now();
        std::hint::black_box(baseline().await);
        b.push(t.elapsed());
    }
    (m, b)
}

/// The sample at quantile `p` (0.0..=1.0), by the rounded index `(n - 1) * p`.
pub fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    samples[((samples.len() - 1) as f64 * p).round() as usize]
}

/// The upper median (`samples[n / 2]` once sorted), the same sample as
/// `percentile(.., 0.5)`.
pub fn median(mut samples: Vec<Duration>) -> Duration {
    percentile(&mut samples, 0.5)
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
