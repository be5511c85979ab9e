//! Parsing x/upgrade's halt line, `UPGRADE "<name>" NEEDED at <due>: <info>`.
//!
//! The SDK builds it as `fmt.Sprintf("UPGRADE \"%s\" NEEDED at %s: %s", name,
//! plan.DueAt(), info)` where `DueAt()` is `height: <h>` or, for the time-based plans
//! of SDK versions before 0.43, `time: <RFC 3339 UTC time>`. The line reaches us
//! with whatever the node's logger put around it: a level and timestamp before, and
//! key-value pairs (` module=x/upgrade`) after. So the info is read as one JSON
//! object when it starts with `{` (JSON may hold spaces), else as one
//! whitespace-free token (a URL, or nothing), as cosmovisor's `:\s+(\S*)` did — the
//! trailing key-values must not end up in a download URL.

/// When the plan is due, as the line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Due {
    Height(u64),
    /// An RFC 3339 time, as written.
    Time(String),
}

/// What one halt line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Needed {
    pub name: String,
    pub due: Due,
    pub info: String,
}

const OPENING: &str = "UPGRADE \"";

/// The first well-formed halt message in `line`, if any.
pub fn parse(line: &str) -> Option<Needed> {
    let mut from = 0;
    while let Some(pos) = line[from..].find(OPENING) {
        let start = from + pos + OPENING.len();
        if let Some(needed) = parse_after_opening(&line[start..]) {
            return Some(needed);
        }
        from = start;
    }
    None
}

/// `v2" NEEDED at height: 7: {...} module=x` → v2, height 7, `{...}`.
fn parse_after_opening(rest: &str) -> Option<Needed> {
    let (name, rest) = rest.split_once('"')?;
    if name.is_empty() {
        return None;
    }
    let rest = rest.trim_start().strip_prefix("NEEDED at ")?.trim_start();
    let (due, rest) = parse_due(rest)?;
    Some(Needed {
        name: name.to_string(),
        due,
        info: parse_info(rest),
    })
}

/// `height: 7: rest` or `time: 2021-06-01T12:00:00Z: rest` (keyword in any case:
/// an early SDK wrote `Height:`). Returns the due point and what follows it.
fn parse_due(text: &str) -> Option<(Due, &str)> {
    let (keyword, rest) = text.split_once(':')?;
    let rest = rest.trim_start();
    if keyword.eq_ignore_ascii_case("height") {
        let end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let height = rest[..end].parse().ok().filter(|h: &u64| *h > 0)?;
        let after = &rest[end..];
        if !(after.is_empty() || after.starts_with(':') || after.starts_with(char::is_whitespace)) {
            return None;
        }
        return Some((Due::Height(height), after));
    }
    if keyword.eq_ignore_ascii_case("time") {
        // The time holds colons itself; it ends at the first blank, and the
        // separator colon before the info sticks to it.
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let time = rest[..end].strip_suffix(':').unwrap_or(&rest[..end]);
        if !is_rfc3339(time) {
            return None;
        }
        let after = if rest[..end].ends_with(':') {
            &rest[end..]
        } else {
            rest[end..].trim_start().strip_prefix(':').unwrap_or("")
        };
        return Some((Due::Time(time.to_string()), after));
    }
    None
}

/// The info after the due point: `: {"binaries":...} module=x` → the JSON object;
/// `: https://x/y?checksum=... module=x` → the URL; nothing → empty.
fn parse_info(rest: &str) -> String {
    let rest = rest.trim_start();
    let rest = rest.strip_prefix(':').unwrap_or(rest).trim_start();
    if rest.starts_with('{') {
        return match json_object_len(rest) {
            Some(len) => rest[..len].to_string(),
            // Unbalanced (the line was cut): hand over what there is; the resolver
            // will say the JSON is invalid rather than guess a download.
            None => rest.trim_end().to_string(),
        };
    }
    let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    rest[..end].to_string()
}

/// Length of the JSON object at the start of `text` (braces counted outside
/// strings, escapes honoured), or `None` when it never closes.
fn json_object_len(text: &str) -> Option<usize> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (i, b) in text.bytes().enumerate() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, the shape Go's `time.RFC3339` prints.
pub fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        b.get(range.clone())
            .is_some_and(|d| d.len() == range.len() && d.iter().all(u8::is_ascii_digit))
    };
    let at = |i: usize, c: u8| b.get(i).is_some_and(|x| x.eq_ignore_ascii_case(&c));
    if !(digits(0..4) && at(4, b'-') && digits(5..7) && at(7, b'-') && digits(8..10))
        || !(at(10, b'T') && digits(11..13) && at(13, b':') && digits(14..16))
        || !(at(16, b':') && digits(17..19))
    {
        return false;
    }
    let mut i = 19;
    if at(i, b'.') {
        let frac = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if frac == 0 {
            return false;
        }
        i += 1 + frac;
    }
    match b.get(i) {
        Some(b'Z' | b'z') => i + 1 == b.len(),
        Some(b'+' | b'-') => {
            i + 6 == b.len() && digits(i + 1..i + 3) && at(i + 3, b':') && digits(i + 4..i + 6)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn needed(name: &str, due: Due, info: &str) -> Option<Needed> {
        Some(Needed {
            name: name.into(),
            due,
            info: info.into(),
        })
    }

    #[test]
    fn the_height_form_as_the_sdk_logs_it() {
        assert_eq!(
            parse(
                r#"11:02PM ERR UPGRADE "v2.0.0" NEEDED at height: 4200: {"binaries":{"linux/amd64":"https://x/y"}}"#
            ),
            needed(
                "v2.0.0",
                Due::Height(4200),
                r#"{"binaries":{"linux/amd64":"https://x/y"}}"#
            )
        );
        assert_eq!(
            parse(r#"panic: UPGRADE "v2" NEEDED at height: 10: "#),
            needed("v2", Due::Height(10), "")
        );
        assert_eq!(
            parse(r#"UPGRADE "v2" NEEDED at height: 10"#),
            needed("v2", Due::Height(10), "")
        );
    }

    #[test]
    fn the_time_form_of_older_sdks() {
        assert_eq!(
            parse(
                r#"E[2021-06-01|12:00:01.000] UPGRADE "v2" NEEDED at time: 2021-06-01T12:00:00Z: https://x/v2.json?checksum=sha256:ab module=main"#
            ),
            needed(
                "v2",
                Due::Time("2021-06-01T12:00:00Z".into()),
                "https://x/v2.json?checksum=sha256:ab"
            )
        );
        assert_eq!(
            parse(r#"panic: UPGRADE "Vega" NEEDED at time: 2021-06-01T12:00:00.123456789Z: "#),
            needed(
                "Vega",
                Due::Time("2021-06-01T12:00:00.123456789Z".into()),
                ""
            )
        );
        assert_eq!(
            parse(r#"UPGRADE "v2" NEEDED at time: 2021-06-01T12:00:00+02:00 : {"a": "b c"}"#),
            needed(
                "v2",
                Due::Time("2021-06-01T12:00:00+02:00".into()),
                r#"{"a": "b c"}"#
            )
        );
    }

    #[test]
    fn trailing_key_values_are_not_part_of_the_info() {
        let line = r#"ERR UPGRADE "v3" NEEDED at height: 9: {"binaries": {"any": "http://h/a b}\"{"}} module=x/upgrade height=9"#;
        assert_eq!(
            parse(line),
            needed(
                "v3",
                Due::Height(9),
                r#"{"binaries": {"any": "http://h/a b}\"{"}}"#
            )
        );
        // A cut JSON object is handed over whole: the resolver reports it invalid.
        assert_eq!(
            parse(r#"UPGRADE "v3" NEEDED at height: 9: {"binaries": {"#).map(|n| n.info),
            Some(r#"{"binaries": {"#.to_string())
        );
    }

    #[test]
    fn keyword_case_of_the_earliest_sdk() {
        assert_eq!(
            parse(r#"UPGRADE "v2" NEEDED at Height: 12: "#),
            needed("v2", Due::Height(12), "")
        );
    }

    #[test]
    fn malformed_lines_are_not_plans() {
        for line in [
            "INF committed state height=12 module=state",
            r#"UPGRADE "" NEEDED at height: 5: "#,
            r#"UPGRADE "v2" NEEDED at height: 0: "#,
            r#"UPGRADE "v2" NEEDED at height: x: "#,
            r#"UPGRADE "v2" NEEDED at height: 12x: "#,
            r#"UPGRADE "v2" NEEDED at time: tomorrow: "#,
            r#"UPGRADE "v2" NEEDED at time: 2021-06-01 12:00:00: "#,
            r#"UPGRADE "v2" NEEDED at block: 5: "#,
            r#"UPGRADE "v2 NEEDED at height: 5"#,
            r#"UPGRADE "v2" WANTED at height: 5: "#,
        ] {
            assert_eq!(parse(line), None, "{line}");
        }
    }

    #[test]
    fn a_later_well_formed_message_in_the_line_is_found() {
        assert_eq!(
            parse(r#"note: UPGRADE "x" is odd; UPGRADE "v2" NEEDED at height: 3: "#),
            needed("v2", Due::Height(3), "")
        );
    }

    #[test]
    fn rfc3339_shapes() {
        for ok in [
            "2021-06-01T12:00:00Z",
            "2021-06-01t12:00:00z",
            "2021-06-01T12:00:00.5Z",
            "2021-06-01T12:00:00-07:00",
        ] {
            assert!(is_rfc3339(ok), "{ok}");
        }
        for bad in [
            "",
            "2021-06-01",
            "2021-06-01T12:00:00",
            "2021-06-01T12:00:00.Z",
            "2021-06-01T12:00:00+0700",
            "2021-06-01T12:00:00Zjunk",
            "21-06-01T12:00:00Z",
        ] {
            assert!(!is_rfc3339(bad), "{bad}");
        }
    }
}
