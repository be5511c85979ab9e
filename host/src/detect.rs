//! When a plan is an upgrade request, and when it may be acted on.
//!
//! Rules (COSMOVISOR_COMPAT.md): a plan asks for an upgrade when its name differs,
//! case-insensitively, from the plan recorded beside the current binary, or when its
//! height is above the last plan accepted. Before acting, the node must have reached
//! the plan's height: the chain writes `upgrade-info.json` itself only when it halts
//! there, but `add-upgrade --upgrade-height` stages a plan for a future height.
//! Staged plans are remembered in `cosmovisor/staged-upgrade.json`, so that after a
//! restart — when the stopped node cannot say its height — a staged plan is not
//! mistaken for one the chain wrote (which would switch binaries early and fork the
//! node off the chain).

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::layout::Layout;
use crate::upgrade_info::{self, Plan};

/// Whether `plan` asks for an upgrade, given the plan the current binary was
/// switched for (`None` on genesis) and the height of the last plan accepted.
pub fn is_request(plan: &Plan, current: Option<&Plan>, last_accepted_height: Option<u64>) -> bool {
    match current {
        None => last_accepted_height.is_none_or(|h| plan.height > h),
        Some(cur) => {
            !plan.same_name(cur)
                || plan.height > last_accepted_height.unwrap_or(cur.height).max(cur.height)
        }
    }
}

/// What the height gate says about a requested plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// The node reached the height: stop it and upgrade.
    Ready,
    /// Too early (or the height can't be known for a staged plan): keep running.
    Wait,
}

/// The gate: the node is at the plan's height once it committed the block before it
/// (the chain halts in block `height` with `height - 1` committed). A plan the chain
/// wrote itself is ready even when the node cannot answer (it halted or died there);
/// a staged plan needs the node to confirm its height.
pub fn gate(plan: &Plan, staged: bool, node_height: Option<u64>) -> Gate {
    match node_height {
        Some(h) if h.saturating_add(1) >= plan.height => Gate::Ready,
        Some(_) => Gate::Wait,
        None if staged => Gate::Wait,
        None => Gate::Ready,
    }
}

/// `cosmovisor/staged-upgrade.json`: the plan `add-upgrade --upgrade-height` wrote.
pub fn staged_file(layout: &Layout) -> PathBuf {
    layout.root().join("staged-upgrade.json")
}

/// Remembers that `plan` was staged by the operator for a future height.
pub fn mark_staged(layout: &Layout, plan: &Plan) -> Result<()> {
    crate::fsutil::write_durable(&staged_file(layout), plan.to_json().as_bytes())
}

/// Whether `plan` is the one the operator staged.
pub fn is_staged(layout: &Layout, plan: &Plan) -> bool {
    matches!(upgrade_info::read(&staged_file(layout)), Ok(Some(s)) if s.same_name(plan) && s.height == plan.height)
}

/// Forgets the staged plan once it has been carried out.
pub fn clear_staged(layout: &Layout) -> Result<()> {
    match std::fs::remove_file(staged_file(layout)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).context("removing staged-upgrade.json")
        }
        _ => Ok(()),
    }
}

/// The plan the current binary was switched for, judged against a candidate `plan`:
/// the record beside the current binary, or, when that record is missing (it is
/// written without fsync, so a power cut may lose it), `plan` itself if `current`
/// already points at its folder. `None` for genesis.
pub fn current_plan_for(layout: &Layout, plan: &Plan) -> Option<Plan> {
    current_plan(layout).or_else(|| {
        let current = layout.current_dir().ok()?;
        (current == layout.upgrade_dir(&plan.name)).then(|| plan.clone())
    })
}

/// The plan recorded beside the current binary (`None` for genesis or when unreadable,
/// which is logged: an unreadable record must not stop the node).
pub fn current_plan(layout: &Layout) -> Option<Plan> {
    let path = layout.current_plan_file().ok()?;
    match upgrade_info::read(&path) {
        Ok(plan) => plan,
        Err(e) => {
            tracing::warn!(file = %path.display(), "ignoring the plan recorded beside the current binary: {e}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(name: &str, height: u64) -> Plan {
        Plan {
            name: name.into(),
            height,
            info: String::new(),
        }
    }

    #[test]
    fn a_new_name_is_a_request_and_the_same_name_is_not() {
        assert!(is_request(&plan("v2", 10), None, None));
        assert!(!is_request(&plan("V2", 10), Some(&plan("v2", 10)), None));
        assert!(is_request(&plan("v3", 20), Some(&plan("v2", 10)), None));
    }

    #[test]
    fn a_later_height_of_the_same_name_is_a_request() {
        assert!(is_request(&plan("v2", 30), Some(&plan("v2", 10)), Some(10)));
        assert!(!is_request(&plan("v2", 10), None, Some(10)));
    }

    #[test]
    fn gate_waits_for_the_height() {
        assert_eq!(gate(&plan("v2", 10), false, Some(8)), Gate::Wait);
        assert_eq!(gate(&plan("v2", 10), false, Some(9)), Gate::Ready);
        assert_eq!(gate(&plan("v2", 10), true, Some(12)), Gate::Ready);
    }

    #[test]
    fn unknown_height_blocks_only_staged_plans() {
        assert_eq!(gate(&plan("v2", 10), false, None), Gate::Ready);
        assert_eq!(gate(&plan("v2", 10), true, None), Gate::Wait);
    }

    #[test]
    fn a_plan_whose_folder_is_current_is_not_requested_again() {
        let home = tempfile::tempdir().unwrap();
        let layout = Layout::new(home.path(), "app", false);
        std::fs::create_dir_all(layout.upgrade_dir("v2")).unwrap();
        crate::switch::point_current_at(&layout, &layout.relative_upgrade_target("v2")).unwrap();
        // No record beside the binary (lost to a power cut): the folder decides.
        let v2 = plan("V2", 10);
        assert!(!is_request(
            &v2,
            current_plan_for(&layout, &v2).as_ref(),
            None
        ));
        let v3 = plan("v3", 20);
        assert!(is_request(
            &v3,
            current_plan_for(&layout, &v3).as_ref(),
            None
        ));
    }

    #[test]
    fn staged_marker_round_trip() {
        let home = tempfile::tempdir().unwrap();
        let layout = Layout::new(home.path(), "app", false);
        std::fs::create_dir_all(layout.root()).unwrap();
        assert!(!is_staged(&layout, &plan("v2", 10)));
        mark_staged(&layout, &plan("v2", 10)).unwrap();
        assert!(is_staged(&layout, &plan("V2", 10)));
        assert!(!is_staged(&layout, &plan("v2", 11)));
        clear_staged(&layout).unwrap();
        assert!(!is_staged(&layout, &plan("v2", 10)));
    }
}
