//! Order statistics over timed samples and the units the benches print them in.

use std::time::Duration;

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
