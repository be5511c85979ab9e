//! Durations written the way Go writes them (`300ms`, `1h30m`, `1.5s`, `20µs`).
//!
//! cosmovisor reads its duration variables with Go's `time.ParseDuration`, so operators
//! already have values in that syntax in their unit files; we accept exactly that
//! syntax and print durations back the way Go's `Duration.String` does, so a value
//! shown by `wasmvisor config` can be pasted back unchanged.

use std::time::Duration;

/// Why a duration string was refused; the text says what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("a duration needs a unit; write e.g. {0}ms, {0}s or {0}m")]
    MissingUnit(String),
    #[error("unknown unit \"{0}\"; use ns, us (or µs), ms, s, m or h")]
    UnknownUnit(String),
    #[error("not a duration; write a number with a unit, e.g. 300ms, 20s or 1h30m")]
    Malformed,
    #[error("the duration is too long")]
    Overflow,
}

// Go has no day unit; left out so values stay portable to cosmovisor.
const NANOS_PER_UNIT: [(&str, u128); 8] = [
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000), // U+00B5 MICRO SIGN
    ("μs", 1_000), // U+03BC GREEK SMALL LETTER MU
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Parses Go's duration syntax: an optional sign, then one or more `<number><unit>`
/// (the number may have a fraction). A lone `0` is zero. Returns the signed value in
/// nanoseconds so the caller can say "must be greater than 0" for `-3m`.
pub fn parse_go_duration(input: &str) -> Result<i128, DurationError> {
    let (negative, mut rest) = match input.as_bytes().first() {
        Some(b'-') => (true, &input[1..]),
        Some(b'+') => (false, &input[1..]),
        _ => (false, input),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(DurationError::Malformed);
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let (component, after) = parse_component(rest, input)?;
        total = total
            .checked_add(component)
            .ok_or(DurationError::Overflow)?;
        rest = after;
    }
    // Go limits durations to an int64 of nanoseconds (about 292 years).
    if total > i64::MAX as u128 {
        return Err(DurationError::Overflow);
    }
    let total = total as i128;
    Ok(if negative { -total } else { total })
}

/// One `<number>[.<fraction>]<unit>`; returns its nanoseconds and the rest.
fn parse_component<'a>(s: &'a str, whole: &str) -> Result<(u128, &'a str), DurationError> {
    let int_len = s.bytes().take_while(u8::is_ascii_digit).count();
    let (int_part, s) = s.split_at(int_len);
    let (frac_part, s) = match s.strip_prefix('.') {
        Some(after_dot) => {
            let n = after_dot.bytes().take_while(u8::is_ascii_digit).count();
            after_dot.split_at(n)
        }
        None => ("", s),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return Err(DurationError::Malformed);
    }
    let unit_len = s
        .find(|c: char| c.is_ascii_digit() || c == '.')
        .unwrap_or(s.len());
    let (unit, rest) = s.split_at(unit_len);
    if unit.is_empty() {
        let number = whole.trim_start_matches(['-', '+']);
        if number.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return Err(DurationError::MissingUnit(number.to_owned()));
        }
        return Err(DurationError::Malformed);
    }
    let scale = NANOS_PER_UNIT
        .iter()
        .find(|(name, _)| *name == unit)
        .map(|(_, n)| *n)
        .ok_or_else(|| DurationError::UnknownUnit(unit.to_owned()))?;

    let whole_units: u128 = if int_part.is_empty() {
        0
    } else {
        int_part.parse().map_err(|_| DurationError::Overflow)?
    };
    let mut nanos = whole_units
        .checked_mul(scale)
        .ok_or(DurationError::Overflow)?;
    // Fraction digits beyond nanosecond precision are dropped, as Go does.
    let mut place = scale;
    for digit in frac_part.bytes() {
        place /= 10;
        if place == 0 {
            break;
        }
        nanos += u128::from(digit - b'0') * place;
    }
    Ok((nanos, rest))
}

/// Parses a duration that must be strictly positive (every duration variable).
pub fn parse_positive(input: &str) -> Result<Duration, String> {
    match parse_go_duration(input) {
        Ok(n) if n > 0 => Ok(Duration::from_nanos(n as u64)),
        Ok(_) => {
            Err("must be greater than 0; leave it unset for the default, or write e.g. 5s".into())
        }
        Err(e) => Err(e.to_string()),
    }
}

/// Formats like Go's `Duration.String`: `300ms`, `1.5s`, `1h30m0s`, `0s`.
pub fn format_go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".into();
    }
    if nanos < 1_000_000_000 {
        let (unit, scale) = if nanos < 1_000 {
            ("ns", 1)
        } else if nanos < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        return format!("{}{unit}", fixed_point(nanos, scale));
    }
    let secs_total = nanos / 1_000_000_000;
    let frac_nanos = nanos % 1_000_000_000;
    let hours = secs_total / 3600;
    let minutes = (secs_total % 3600) / 60;
    let secs = secs_total % 60;
    let seconds = fixed_point(secs * 1_000_000_000 + frac_nanos, 1_000_000_000);
    match (hours, minutes) {
        (0, 0) => format!("{seconds}s"),
        (0, m) => format!("{m}m{seconds}s"),
        (h, m) => format!("{h}h{m}m{seconds}s"),
    }
}

/// `value / scale` with the fraction written without trailing zeros.
fn fixed_point(value: u128, scale: u128) -> String {
    let whole = value / scale;
    let frac = value % scale;
    if frac == 0 {
        return whole.to_string();
    }
    let width = scale.ilog10() as usize;
    let digits = format!("{frac:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> i128 {
        i128::from(n) * 1_000_000
    }

    #[test]
    fn accepts_go_syntax() {
        assert_eq!(parse_go_duration("300ms"), Ok(ms(300)));
        assert_eq!(parse_go_duration("1s"), Ok(ms(1000)));
        assert_eq!(parse_go_duration("20m"), Ok(ms(20 * 60_000)));
        assert_eq!(parse_go_duration("1h30m"), Ok(ms(90 * 60_000)));
        assert_eq!(parse_go_duration("1.5s"), Ok(ms(1500)));
        assert_eq!(parse_go_duration(".5s"), Ok(ms(500)));
        assert_eq!(parse_go_duration("5.s"), Ok(ms(5000)));
        assert_eq!(parse_go_duration("10µs"), Ok(10_000));
        assert_eq!(parse_go_duration("10μs"), Ok(10_000));
        assert_eq!(parse_go_duration("10us"), Ok(10_000));
        assert_eq!(parse_go_duration("7ns"), Ok(7));
        assert_eq!(parse_go_duration("+2s"), Ok(ms(2000)));
        assert_eq!(parse_go_duration("-3m"), Ok(-ms(180_000)));
        assert_eq!(parse_go_duration("1h2m3s4ms"), Ok(ms(3_723_004)));
        assert_eq!(parse_go_duration("0"), Ok(0));
        assert_eq!(parse_go_duration("0s"), Ok(0));
        assert_eq!(parse_go_duration("1.0000000001s"), Ok(1_000_000_000));
    }

    #[test]
    fn refuses_what_go_refuses() {
        assert_eq!(
            parse_go_duration("600"),
            Err(DurationError::MissingUnit("600".into()))
        );
        assert_eq!(parse_go_duration("1s5"), Err(DurationError::Malformed));
        assert_eq!(parse_go_duration("bad"), Err(DurationError::Malformed));
        assert_eq!(parse_go_duration(""), Err(DurationError::Malformed));
        assert_eq!(parse_go_duration("-"), Err(DurationError::Malformed));
        assert_eq!(parse_go_duration(".s"), Err(DurationError::Malformed));
        assert_eq!(
            parse_go_duration("5d"),
            Err(DurationError::UnknownUnit("d".into()))
        );
        assert_eq!(
            parse_go_duration("5 s"),
            Err(DurationError::UnknownUnit(" s".into()))
        );
        assert_eq!(parse_go_duration("3000000h"), Err(DurationError::Overflow));
        assert_eq!(
            parse_go_duration("99999999999999999999999999999999999999999h"),
            Err(DurationError::Overflow)
        );
    }

    #[test]
    fn positive_only() {
        assert_eq!(parse_positive("300ms"), Ok(Duration::from_millis(300)));
        for bad in ["0", "0s", "-3m", "600", "bad"] {
            assert!(parse_positive(bad).is_err(), "{bad} must be refused");
        }
        assert!(parse_positive("600").unwrap_err().contains("600ms"));
        assert!(
            parse_positive("-3m")
                .unwrap_err()
                .contains("greater than 0")
        );
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(format_go_duration(Duration::ZERO), "0s");
        assert_eq!(format_go_duration(Duration::from_millis(300)), "300ms");
        assert_eq!(format_go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_go_duration(Duration::from_secs(90 * 60)), "1h30m0s");
        assert_eq!(format_go_duration(Duration::from_secs(61)), "1m1s");
        assert_eq!(format_go_duration(Duration::from_micros(15)), "15µs");
        assert_eq!(format_go_duration(Duration::from_nanos(1_500)), "1.5µs");
        assert_eq!(format_go_duration(Duration::from_nanos(7)), "7ns");
    }

    #[test]
    fn formatted_values_parse_back() {
        for d in [
            1u64,
            1_500,
            300_000_000,
            1_500_000_000,
            5_400_000_000_000,
            3_723_004_000_000,
        ] {
            let d = Duration::from_nanos(d);
            let text = format_go_duration(d);
            assert_eq!(parse_positive(&text), Ok(d), "{text}");
        }
    }
}
