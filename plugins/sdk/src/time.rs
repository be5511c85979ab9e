//! Wall-clock times as text, for plugins that have no time library (a wasm
//! component stays small without one): `host::now_unix_ms()` to a UTC calendar date.

/// A UTC date and time of day, to the millisecond.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub millis: u32,
}

impl UtcTime {
    /// The UTC time `ms` milliseconds after the Unix epoch.
    pub fn from_unix_ms(ms: u64) -> Self {
        let secs = ms / 1000;
        let (year, month, day) = civil_from_days((secs / 86_400) as i64);
        let rem = (secs % 86_400) as u32;
        UtcTime {
            year,
            month,
            day,
            hour: rem / 3600,
            minute: rem % 3600 / 60,
            second: rem % 60,
            millis: (ms % 1000) as u32,
        }
    }

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ` (RFC 3339).
    pub fn rfc3339(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second, self.millis
        )
    }
}

/// Days since 1970-01-01 to (year, month, day), by Howard Hinnant's algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leap_days_and_the_last_millisecond_of_a_day() {
        assert_eq!(
            UtcTime::from_unix_ms(951_782_400_000).rfc3339(),
            "2000-02-29T00:00:00.000Z"
        );
        assert_eq!(
            UtcTime::from_unix_ms(1_709_251_199_999).rfc3339(),
            "2024-02-29T23:59:59.999Z"
        );
        assert_eq!(
            UtcTime::from_unix_ms(0).rfc3339(),
            "1970-01-01T00:00:00.000Z"
        );
    }
}
