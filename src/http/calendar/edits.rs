//! The changes each calendar occurrence has seen, read from the event log,
//! for SEQUENCE (RFC 5545 §3.8.7.4: it grows with every significant change).
//! Counting logged events, rather than comparing with what an earlier
//! request served, keeps a read free of writes and makes the number the same
//! on every instance and after every restart; the event log only grows, so
//! the count never goes back.
//!
//! What counts: for a window occurrence, each patch queued for it, each
//! patch taken back out of it (`window leave`) and the close of the window
//! that retires its queue; for a stretch of a shift, each override, each
//! taken swap and each cancelled override overlapping its shift (a running
//! override cancelled counts only from the cancel on: what came before
//! stays true). A withdrawn swap request counts only if it had been taken:
//! an open request changes nobody's shift, so withdrawing it changes no
//! occurrence. One-off windows are also remembered here, because the state
//! forgets them once done.
//! Changes to the config (a window's duration, a rotation's members) are
//! not events and do not count.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use signalbox_commands::event::History;
use signalbox_commands::{Change, Event, PersonId, oncall, window};

/// A one-off window, as `window add` made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdHoc {
    pub name: String,
    pub start: DateTime<Utc>,
    pub duration: Duration,
    pub deployers: Vec<PersonId>,
}

/// Spans of time, from–until.
type Spans = Vec<(DateTime<Utc>, DateTime<Utc>)>;

/// The index; [`Edits::catch_up`] reads the events it has not seen yet.
#[derive(Debug, Clone, Default)]
pub struct Edits {
    /// The newest event read.
    seen: u64,
    /// (window, occurrence) → changes.
    windows: BTreeMap<(String, DateTime<Utc>), u32>,
    /// One-off windows by (name, start).
    adhoc: BTreeMap<(String, DateTime<Utc>), AdHoc>,
    /// Rotation → the spans overrides and taken swaps changed.
    shifts: BTreeMap<String, Spans>,
    /// Swap id → (rotation, from, until, taken), to place a later take or
    /// cancel.
    swaps: BTreeMap<u64, (String, DateTime<Utc>, DateTime<Utc>, bool)>,
    /// Override id → (rotation, from, until), to place a later cancel.
    overrides: BTreeMap<u64, (String, DateTime<Utc>, DateTime<Utc>)>,
    /// Patch id → (window, occurrence), to place a later leave. Ids are
    /// numbered as the state numbers them: one per join, in log order.
    patches: BTreeMap<u64, (String, DateTime<Utc>)>,
    /// The last patch id handed out.
    next_patch: u64,
}

impl Edits {
    /// Reads the events newer than the last one seen, oldest first.
    pub fn catch_up(&mut self, history: &dyn History) {
        let mut fresh: Vec<Event> = Vec::new();
        let seen = self.seen;
        history.newest_first(&mut |e| {
            if e.id.0 <= seen {
                return false;
            }
            fresh.push(e.clone());
            true
        });
        for event in fresh.iter().rev() {
            self.apply(event);
        }
    }

    fn apply(&mut self, event: &Event) {
        self.seen = self.seen.max(event.id.0);
        for change in &event.changes {
            match change {
                Change::Window(window::Change::Join {
                    window, occurrence, ..
                }) => {
                    *self
                        .windows
                        .entry((window.clone(), *occurrence))
                        .or_default() += 1;
                    self.next_patch += 1;
                    self.patches
                        .insert(self.next_patch, (window.clone(), *occurrence));
                }
                Change::Window(window::Change::Leave { window, id }) => {
                    if let Some(key) = self.patches.remove(id).filter(|(w, _)| w == window) {
                        *self.windows.entry(key).or_default() += 1;
                    }
                }
                Change::Window(window::Change::Close { window, .. }) => {
                    // The close retires the queue of every occurrence so far.
                    for ((name, occurrence), n) in self.windows.iter_mut() {
                        if name == window && *occurrence <= event.at {
                            *n += 1;
                        }
                    }
                }
                Change::Window(window::Change::Add {
                    name,
                    start,
                    duration,
                    deployers,
                }) => {
                    self.adhoc.insert(
                        (name.clone(), *start),
                        AdHoc {
                            name: name.clone(),
                            start: *start,
                            duration: *duration,
                            deployers: deployers.clone(),
                        },
                    );
                }
                Change::Duty(oncall::Change::Override(o)) => {
                    self.shifts
                        .entry(o.rotation.clone())
                        .or_default()
                        .push((o.from, o.until));
                    self.overrides
                        .insert(o.id, (o.rotation.clone(), o.from, o.until));
                }
                Change::Duty(oncall::Change::OverrideCancelled { id }) => {
                    if let Some((rotation, from, until)) = self.overrides.remove(id) {
                        // A running override ends at the cancel; a coming
                        // one is gone whole.
                        let from = from.max(event.at);
                        if from < until {
                            self.shifts.entry(rotation).or_default().push((from, until));
                        }
                    }
                }
                Change::Duty(oncall::Change::SwapRequested(s)) => {
                    self.swaps
                        .insert(s.id, (s.rotation.clone(), s.from, s.until, false));
                }
                Change::Duty(oncall::Change::SwapTaken { id, .. }) => {
                    if let Some((rotation, from, until, taken)) = self.swaps.get_mut(id) {
                        *taken = true;
                        self.shifts
                            .entry(rotation.clone())
                            .or_default()
                            .push((*from, *until));
                    }
                }
                Change::Duty(oncall::Change::SwapCancelled { id }) => {
                    if let Some((rotation, from, until, true)) = self.swaps.remove(id) {
                        self.shifts.entry(rotation).or_default().push((from, until));
                    }
                }
                _ => {}
            }
        }
    }

    /// A window occurrence's SEQUENCE.
    pub fn window_sequence(&self, name: &str, start: DateTime<Utc>) -> u32 {
        self.windows
            .get(&(name.to_string(), start))
            .copied()
            .unwrap_or(0)
    }

    /// The SEQUENCE of a stretch inside the shift `[from, until)`.
    pub fn shift_sequence(&self, rotation: &str, from: DateTime<Utc>, until: DateTime<Utc>) -> u32 {
        let n = self.shifts.get(rotation).map_or(0, |spans| {
            spans
                .iter()
                .filter(|(f, u)| *f < until && from < *u)
                .count()
        });
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// Every one-off window ever added.
    pub fn adhoc(&self) -> impl Iterator<Item = &AdHoc> {
        self.adhoc.values()
    }

    /// Every (window, occurrence) a patch was ever queued for.
    pub fn queued_for(&self) -> Vec<(String, DateTime<Utc>)> {
        self.windows.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use signalbox_commands::event::Actor;
    use signalbox_commands::{EventId, Network};

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("instant")
    }

    fn event(id: u64, when: &str, change: Change) -> Event {
        Event {
            v: 1,
            id: EventId(id),
            at: at(when),
            actor: Actor {
                person: Some(PersonId::new("bob")),
                handle: "bob".into(),
                network: Network::Console,
                channel: None,
            },
            changes: vec![change],
        }
    }

    fn join(id: u64, occurrence: &str) -> Event {
        event(
            id,
            "2026-11-20T10:00:00Z",
            Change::Window(window::Change::Join {
                window: "backport".into(),
                occurrence: at(occurrence),
                change: format!("{id}"),
                task: None,
            }),
        )
    }

    #[test]
    fn counts_grow_with_every_new_event_and_only_new_events_are_read() {
        let mut log = vec![join(1, "2026-11-23T13:00:00Z")];
        let mut edits = Edits::default();
        edits.catch_up(&log);
        let start = at("2026-11-23T13:00:00Z");
        assert_eq!(edits.window_sequence("backport", start), 1);
        edits.catch_up(&log);
        assert_eq!(edits.window_sequence("backport", start), 1, "read once");
        log.push(join(2, "2026-11-23T13:00:00Z"));
        log.push(event(
            3,
            "2026-11-23T14:00:00Z",
            Change::Window(window::Change::Close {
                window: "backport".into(),
                entries: 0,
            }),
        ));
        edits.catch_up(&log);
        assert_eq!(edits.window_sequence("backport", start), 3);
        assert_eq!(
            edits.window_sequence("backport", at("2026-11-24T13:00:00Z")),
            0
        );
    }

    #[test]
    fn overrides_and_taken_swaps_count_for_the_shifts_they_touch() {
        let o = oncall::Override {
            id: 1,
            rotation: "ciduty".into(),
            person: Some(PersonId::new("bob")),
            from: at("2026-11-23T12:00:00Z"),
            until: at("2026-11-23T14:00:00Z"),
            by: "bob".into(),
        };
        let s = oncall::SwapEntry {
            id: 2,
            rotation: "ciduty".into(),
            original: PersonId::new("alice"),
            from: at("2026-11-25T09:00:00Z"),
            until: at("2026-11-26T09:00:00Z"),
            reason: String::new(),
            taker: None,
        };
        let log = vec![
            event(
                1,
                "2026-11-20T10:00:00Z",
                Change::Duty(oncall::Change::Override(o)),
            ),
            event(
                2,
                "2026-11-20T10:00:00Z",
                Change::Duty(oncall::Change::SwapRequested(s)),
            ),
        ];
        let mut edits = Edits::default();
        edits.catch_up(&log);
        let day = |d: &str, e: &str| edits.shift_sequence("ciduty", at(d), at(e));
        assert_eq!(day("2026-11-23T09:00:00Z", "2026-11-24T09:00:00Z"), 1);
        assert_eq!(
            day("2026-11-25T09:00:00Z", "2026-11-26T09:00:00Z"),
            0,
            "asked, not taken"
        );
        let mut log = log;
        log.push(event(
            3,
            "2026-11-21T10:00:00Z",
            Change::Duty(oncall::Change::SwapTaken {
                id: 2,
                taker: PersonId::new("carol"),
            }),
        ));
        edits.catch_up(&log);
        let day = |d: &str, e: &str| edits.shift_sequence("ciduty", at(d), at(e));
        assert_eq!(day("2026-11-25T09:00:00Z", "2026-11-26T09:00:00Z"), 1);
        assert_eq!(day("2026-11-24T09:00:00Z", "2026-11-25T09:00:00Z"), 0);
    }

    #[test]
    fn a_patch_taken_out_counts_for_the_occurrence_it_left() {
        let first = at("2026-11-23T13:00:00Z");
        let second = at("2026-11-24T13:00:00Z");
        let leave = |id: u64, window: &str, patch: u64| {
            event(
                id,
                "2026-11-21T10:00:00Z",
                Change::Window(window::Change::Leave {
                    window: window.into(),
                    id: patch,
                }),
            )
        };
        // Patches #1 (first) and #2 (second).
        let mut log = vec![
            join(1, "2026-11-23T13:00:00Z"),
            join(2, "2026-11-24T13:00:00Z"),
        ];
        let mut edits = Edits::default();
        edits.catch_up(&log);
        assert_eq!(edits.window_sequence("backport", first), 1);
        assert_eq!(edits.window_sequence("backport", second), 1);
        log.push(leave(3, "backport", 2));
        edits.catch_up(&log);
        assert_eq!(edits.window_sequence("backport", first), 1, "not this one");
        assert_eq!(edits.window_sequence("backport", second), 2, "#2 left it");
        // A patch already out, or named with another window, changes nothing.
        log.push(leave(4, "backport", 2));
        log.push(leave(5, "train", 1));
        edits.catch_up(&log);
        assert_eq!(edits.window_sequence("backport", first), 1);
        assert_eq!(edits.window_sequence("backport", second), 2);
    }

    #[test]
    fn cancelled_overrides_count_from_the_cancel_on_and_open_swaps_withdrawn_do_not() {
        let over = |id: u64, from: &str, until: &str| oncall::Override {
            id,
            rotation: "ciduty".into(),
            person: Some(PersonId::new("bob")),
            from: at(from),
            until: at(until),
            by: "bob".into(),
        };
        let swap = oncall::SwapEntry {
            id: 3,
            rotation: "ciduty".into(),
            original: PersonId::new("alice"),
            from: at("2026-11-27T09:00:00Z"),
            until: at("2026-11-28T09:00:00Z"),
            reason: String::new(),
            taker: None,
        };
        // Daily shifts from 09:00; a coming override on the 25th, a running
        // one over the night of the 23rd to the 24th, an open swap on the 27th.
        let mut log = vec![
            event(
                1,
                "2026-11-20T10:00:00Z",
                Change::Duty(oncall::Change::Override(over(
                    1,
                    "2026-11-25T12:00:00Z",
                    "2026-11-25T14:00:00Z",
                ))),
            ),
            event(
                2,
                "2026-11-20T10:00:00Z",
                Change::Duty(oncall::Change::Override(over(
                    2,
                    "2026-11-23T20:00:00Z",
                    "2026-11-24T12:00:00Z",
                ))),
            ),
            event(
                3,
                "2026-11-20T10:00:00Z",
                Change::Duty(oncall::Change::SwapRequested(swap)),
            ),
        ];
        let mut edits = Edits::default();
        edits.catch_up(&log);
        let days = |edits: &Edits| -> Vec<u32> {
            (23..28)
                .map(|d| {
                    edits.shift_sequence(
                        "ciduty",
                        at(&format!("2026-11-{d}T09:00:00Z")),
                        at(&format!("2026-11-{}T09:00:00Z", d + 1)),
                    )
                })
                .collect()
        };
        assert_eq!(days(&edits), [1, 1, 1, 0, 0]);
        log.push(event(
            4,
            "2026-11-21T10:00:00Z",
            Change::Duty(oncall::Change::OverrideCancelled { id: 1 }),
        ));
        // Cancelled at 10:00 on the 24th, while it runs: the 23rd's shift
        // (before the cancel) is unchanged, the 24th's is changed.
        log.push(event(
            5,
            "2026-11-24T10:00:00Z",
            Change::Duty(oncall::Change::OverrideCancelled { id: 2 }),
        ));
        log.push(event(
            6,
            "2026-11-24T10:00:00Z",
            Change::Duty(oncall::Change::SwapCancelled { id: 3 }),
        ));
        edits.catch_up(&log);
        assert_eq!(days(&edits), [1, 2, 2, 0, 0]);
        // Cancelling again (an unknown id) changes nothing.
        log.push(event(
            7,
            "2026-11-24T11:00:00Z",
            Change::Duty(oncall::Change::OverrideCancelled { id: 1 }),
        ));
        edits.catch_up(&log);
        assert_eq!(days(&edits), [1, 2, 2, 0, 0]);
    }
}
