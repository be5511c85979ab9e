//! The work list between the walk of the data tree and the copying threads.
//!
//! The walk streams entries in as it finds them, so copying starts at once instead
//! of after a full pass over the tree: with a cold cache that pass costs about as
//! much as reflinking every file. Big files jump the line, because on a plain copy a
//! big database file found late would otherwise be copied alone at the end while
//! the other threads idle.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};

use super::walk::Entry;

/// Files at least this big go to the front.
const BIG: u64 = 16 << 20;

#[derive(Default)]
pub struct Queue {
    state: Mutex<State>,
    ready: Condvar,
}

#[derive(Default)]
struct State {
    big: VecDeque<Entry>,
    small: VecDeque<Entry>,
    closed: bool,
}

impl Queue {
    /// Adds an entry; false once the queue is closed (a copy failed: stop walking).
    pub fn push(&self, entry: Entry) -> bool {
        let mut state = self.lock();
        if state.closed {
            return false;
        }
        if entry.meta.len() >= BIG {
            state.big.push_back(entry);
        } else {
            state.small.push_back(entry);
        }
        self.ready.notify_one();
        true
    }

    /// No more entries will come; the threads finish what is queued, then stop.
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }

    /// Drops what is queued and closes: after a failure nothing more is copied.
    pub fn abort(&self) {
        let mut state = self.lock();
        state.big.clear();
        state.small.clear();
        state.closed = true;
        self.ready.notify_all();
    }

    /// The next entry, waiting for the walk if need be; `None` once closed and empty.
    pub fn pop(&self) -> Option<Entry> {
        let mut state = self.lock();
        loop {
            if let Some(entry) = state.big.pop_front().or_else(|| state.small.pop_front()) {
                return Some(entry);
            }
            if state.closed {
                return None;
            }
            state = self
                .ready
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking copier cannot leave the lists half-updated; keep going.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    fn entry(dir: &Path, name: &str, len: usize) -> Entry {
        let path = dir.join(name);
        std::fs::write(&path, vec![0u8; len]).unwrap();
        Entry {
            rel: PathBuf::from(name),
            meta: std::fs::metadata(&path).unwrap(),
        }
    }

    #[test]
    fn big_files_first_then_in_order_until_closed() {
        let d = tempfile::tempdir().unwrap();
        let q = Queue::default();
        assert!(q.push(entry(d.path(), "a", 1)));
        assert!(q.push(entry(d.path(), "b", 1)));
        assert!(q.push(entry(d.path(), "big", BIG as usize)));
        q.close();
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).map(|e| e.rel).collect();
        assert_eq!(order, [PathBuf::from("big"), "a".into(), "b".into()]);
        assert!(!q.push(entry(d.path(), "late", 1)));
    }

    #[test]
    fn a_waiting_thread_wakes_for_work_and_for_abort() {
        let d = tempfile::tempdir().unwrap();
        let q = Queue::default();
        std::thread::scope(|s| {
            let got = s.spawn(|| q.pop().map(|e| e.rel));
            std::thread::sleep(std::time::Duration::from_millis(20));
            q.push(entry(d.path(), "x", 1));
            assert_eq!(got.join().unwrap(), Some(PathBuf::from("x")));
            let none = s.spawn(|| q.pop().map(|e| e.rel));
            q.push(entry(d.path(), "dropped", 1));
            q.abort();
            // Either it took "dropped" before the abort or it saw nothing after it.
            let r = none.join().unwrap();
            assert!(r.is_none() || r == Some(PathBuf::from("dropped")));
            assert!(q.pop().is_none());
        });
    }
}
