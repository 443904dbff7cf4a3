//! How deploy windows went: how many were held, how many patches (deploy log
//! entries made while one was open) each carried, and how long they lasted
//! from `window start` to `window done`.
//!
//! A window counts in the span it was opened in, with all its patches and its
//! whole duration, so a window is never split between two reports. Log
//! entries point at the event that opened their window (their session), and
//! only one window is open at a time, so the walk pairs each opening with
//! the next closing without reading anything older than the span.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::span::{Span, median};
use crate::event::{EventId, History};
use crate::window::Change;

/// One window held: opened, closed (unless still open), patches logged in it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Held {
    pub window: String,
    /// The event that opened it.
    pub session: EventId,
    pub opened: DateTime<Utc>,
    pub closed: Option<DateTime<Utc>>,
    pub patches: u64,
    /// Opened → closed, for closed windows.
    pub minutes: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowStats {
    #[serde(flatten)]
    pub span: Span,
    /// Windows opened in the span.
    pub windows: u64,
    /// Of those, the ones still open.
    pub open: u64,
    pub patches: u64,
    /// Patches per window held (mean); null without windows.
    pub patches_per_window: Option<f64>,
    /// Of the closed windows.
    pub duration_median_minutes: Option<f64>,
    pub duration_total_minutes: f64,
    /// Oldest first.
    pub held: Vec<Held>,
    pub weeks: Vec<WindowWeek>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowWeek {
    #[serde(flatten)]
    pub span: Span,
    pub windows: u64,
    pub patches: u64,
}

pub fn stats(history: &dyn History, span: Span, tz: Tz) -> WindowStats {
    let mut held: Vec<Held> = Vec::new();
    let mut patches: BTreeMap<EventId, u64> = BTreeMap::new();
    // The close seen (newest first) whose opening is not reached yet.
    let mut closing: Option<DateTime<Utc>> = None;
    history.newest_first(&mut |event| {
        if event.at < span.since {
            return false;
        }
        for change in &event.changes {
            match change {
                crate::Change::Log(crate::log::Change::Entry {
                    session: Some(s), ..
                }) => *patches.entry(*s).or_default() += 1,
                crate::Change::Window(Change::Close { .. }) => closing = Some(event.at),
                crate::Change::Window(Change::Open { window, .. }) => {
                    let closed = closing.take();
                    if span.contains(event.at) {
                        held.push(Held {
                            window: window.clone(),
                            session: event.id,
                            opened: event.at,
                            closed,
                            patches: 0,
                            minutes: closed.map(|c| (c - event.at).num_seconds() as f64 / 60.0),
                        });
                    }
                }
                _ => {}
            }
        }
        true
    });
    held.reverse();
    for h in &mut held {
        h.patches = patches.get(&h.session).copied().unwrap_or(0);
    }
    let weeks = span.weeks(tz);
    let mut by_week: Vec<WindowWeek> = weeks
        .iter()
        .map(|w| WindowWeek {
            span: *w,
            windows: 0,
            patches: 0,
        })
        .collect();
    for h in &held {
        if let Some(i) = Span::week_of(&weeks, h.opened) {
            by_week[i].windows += 1;
            by_week[i].patches += h.patches;
        }
    }
    let windows = held.len() as u64;
    let total: u64 = held.iter().map(|h| h.patches).sum();
    let minutes: Vec<f64> = held.iter().filter_map(|h| h.minutes).collect();
    WindowStats {
        span,
        windows,
        open: held.iter().filter(|h| h.closed.is_none()).count() as u64,
        patches: total,
        patches_per_window: (windows > 0).then(|| total as f64 / windows as f64),
        duration_median_minutes: median(&minutes),
        duration_total_minutes: minutes.iter().sum(),
        held,
        weeks: by_week,
    }
}
