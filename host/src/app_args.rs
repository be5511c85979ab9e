//! What the supervisor reads from the app's own arguments (it never changes them).

use std::ffi::OsString;

/// Heights listed after the app's `--unsafe-skip-upgrades` flag: the tokens after it
/// up to the next token starting with `-`; tokens that are not numbers are ignored
/// (as cosmovisor does). The `--flag=h1,h2` form is understood too.
pub fn unsafe_skip_heights(args: &[OsString]) -> Vec<u64> {
    let mut heights = Vec::new();
    let mut in_list = false;
    for arg in args.iter().map(|a| a.to_string_lossy()) {
        if let Some(list) = arg.strip_prefix("--unsafe-skip-upgrades=") {
            heights.extend(list.split(',').filter_map(|t| t.trim().parse::<u64>().ok()));
            in_list = false;
        } else if arg == "--unsafe-skip-upgrades" {
            in_list = true;
        } else if arg.starts_with('-') {
            in_list = false;
        } else if in_list && let Ok(h) = arg.parse::<u64>() {
            heights.push(h);
        }
    }
    heights
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<OsString> {
        s.split_whitespace().map(OsString::from).collect()
    }

    #[test]
    fn collects_heights_up_to_the_next_flag() {
        assert_eq!(
            unsafe_skip_heights(&args("start --unsafe-skip-upgrades 10 x 20 --home /h 30")),
            vec![10, 20]
        );
        assert_eq!(
            unsafe_skip_heights(&args("start --unsafe-skip-upgrades=5,6")),
            vec![5, 6]
        );
        assert!(unsafe_skip_heights(&args("start --home /h")).is_empty());
    }
}
