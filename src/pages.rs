//! Long replies, kept for a day so a message folded to fit a network (IRC's
//! `max_lines`) can link to its whole text at `GET /r/{id}`. They live in
//! memory only: a page is a convenience copy of something already said, not
//! state, so a restart forgetting it loses nothing the ledger holds. Ids are
//! random, since a folded direct message is stored too.

use std::collections::BTreeMap;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};

use crate::clock::Clock;

/// How long a page is kept.
pub const KEEP: Duration = Duration::hours(24);

/// At most this many pages are kept; the oldest go first.
pub const MAX_PAGES: usize = 10_000;

struct Page {
    text: String,
    expires: DateTime<Utc>,
}

#[derive(Default)]
struct Inner {
    pages: BTreeMap<String, Page>,
    /// Ids in the order they were stored, to drop the oldest.
    order: std::collections::VecDeque<String>,
    seq: u64,
}

/// The store of long replies, shared by the adapters that fold output and
/// the HTTP server that shows it.
#[derive(Clone)]
pub struct Pages {
    inner: Arc<Mutex<Inner>>,
    clock: Arc<dyn Clock>,
    random: RandomState,
}

impl Pages {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            inner: Arc::default(),
            clock,
            random: RandomState::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .expect("pages lock is never poisoned: no panics while held")
    }

    /// Keeps `text` for [`KEEP`]; returns its id.
    pub fn keep(&self, text: &str) -> String {
        let now = self.clock.now();
        let mut inner = self.lock();
        inner.seq += 1;
        let id = format!(
            "{:016x}{:016x}",
            self.random.hash_one((inner.seq, now.timestamp_nanos_opt())),
            self.random
                .hash_one((now.timestamp_micros(), inner.seq, "page"))
        );
        inner.pages.insert(
            id.clone(),
            Page {
                text: text.to_string(),
                expires: now + KEEP,
            },
        );
        inner.order.push_back(id.clone());
        while inner.order.len() > MAX_PAGES {
            if let Some(old) = inner.order.pop_front() {
                inner.pages.remove(&old);
            }
        }
        while let Some(first) = inner.order.front() {
            if inner.pages.get(first).is_some_and(|p| p.expires > now) {
                break;
            }
            let first = first.clone();
            inner.pages.remove(&first);
            inner.order.pop_front();
        }
        id
    }

    /// The text of page `id`, while it is kept.
    pub fn get(&self, id: &str) -> Option<String> {
        let now = self.clock.now();
        self.lock()
            .pages
            .get(id)
            .filter(|p| p.expires > now)
            .map(|p| p.text.clone())
    }
}

impl std::fmt::Debug for Pages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pages")
            .field("kept", &self.lock().pages.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn pages_are_kept_for_a_day_under_unguessable_ids() {
        let clock = Arc::new(ManualClock::new(
            "2026-11-22T12:00:00Z".parse().expect("instant"),
        ));
        let pages = Pages::new(clock.clone());
        let a = pages.keep("first\nsecond");
        let b = pages.keep("other");
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert_eq!(pages.get(&a).as_deref(), Some("first\nsecond"));
        assert_eq!(pages.get("nope"), None);
        clock.advance(KEEP - Duration::seconds(1));
        assert_eq!(pages.get(&b).as_deref(), Some("other"));
        clock.advance(Duration::seconds(1));
        assert_eq!(pages.get(&a), None, "gone after a day");
        // Storing another drops the expired ones.
        pages.keep("later");
        assert_eq!(pages.lock().pages.len(), 1);
    }
}
