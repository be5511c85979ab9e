//! The work list between the walk of the data tree and the copying threads.
//!
//! The walk streams entries in as it finds them, so copying starts at once instead
//! of after a full pass over the tree: with a cold cache that pass costs about as
//! much as reflinking every file. Big files jump the line, because on a plain copy a
//! big database file found late would otherwise be copied alone at the end while
//! the other threads idle. The list is bounded, so a tree of millions of files
//! does not sit in memory at once: the walk waits for the copiers when it is full.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};

use super::walk::Entry;

/// Files at least this big go to the front.
const BIG: u64 = 16 << 20;
/// Entries queued at most (a few hundred bytes each).
const CAPACITY: usize = 1 << 16;

pub struct Queue {
    state: Mutex<State>,
    /// Signalled when an entry arrives or the queue closes.
    ready: Condvar,
    /// Signalled when an entry leaves or the queue closes.
    room: Condvar,
    capacity: usize,
}

impl Default for Queue {
    fn default() -> Self {
        Self::with_capacity(CAPACITY)
    }
}

#[derive(Default)]
struct State {
    big: VecDeque<Entry>,
    small: VecDeque<Entry>,
    closed: bool,
}

impl Queue {
    pub fn with_capacity(capacity: usize) -> Self {
        Queue {
            state: Mutex::default(),
            ready: Condvar::new(),
            room: Condvar::new(),
            capacity: capacity.max(1),
        }
    }

    /// Adds an entry, waiting while the queue is full; false once the queue is
    /// closed (a copy failed: stop walking).
    pub fn push(&self, entry: Entry) -> bool {
        let mut state = self.lock();
        while !state.closed && state.big.len() + state.small.len() >= self.capacity {
            state = self
                .room
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
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
        self.room.notify_all();
    }

    /// Drops what is queued and closes: after a failure nothing more is copied.
    pub fn abort(&self) {
        let mut state = self.lock();
        state.big.clear();
        state.small.clear();
        state.closed = true;
        self.ready.notify_all();
        self.room.notify_all();
    }

    /// The next entry, waiting for the walk if need be; `None` once closed and empty.
    pub fn pop(&self) -> Option<Entry> {
        let mut state = self.lock();
        loop {
            if let Some(entry) = state.big.pop_front().or_else(|| state.small.pop_front()) {
                self.room.notify_one();
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

    #[test]
    fn a_full_queue_holds_the_walk_until_a_copier_takes_one() {
        let d = tempfile::tempdir().unwrap();
        let q = Queue::with_capacity(1);
        assert!(q.push(entry(d.path(), "first", 1)));
        let second = entry(d.path(), "second", 1);
        let pushed = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                assert!(q.push(second));
                pushed.store(true, std::sync::atomic::Ordering::SeqCst);
            });
            std::thread::sleep(std::time::Duration::from_millis(50));
            assert!(
                !pushed.load(std::sync::atomic::Ordering::SeqCst),
                "a full queue took more"
            );
            assert_eq!(q.pop().map(|e| e.rel), Some(PathBuf::from("first")));
        });
        assert!(pushed.load(std::sync::atomic::Ordering::SeqCst));
        q.abort();
        assert!(
            !q.push(entry(d.path(), "after", 1)),
            "a closed queue refuses entries"
        );
    }
}
