//! How long trains were held: hold hours (from `train hold` to `train
//! resume`, or to the next `train start`, which releases the old train)
//! within the span, per train version and per week, and how many holds each
//! train had.
//!
//! A hold is attributed to the version running when it was placed. Holds
//! count (as holds) in the span they began in; their hours count wherever
//! they fall, so a hold across the span's start adds its hours inside it.
//! The walk goes back past the span's start to the train running then, so
//! such a hold is found with its version.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::span::Span;
use crate::event::History;
use crate::train::Change;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainStat {
    pub version: String,
    /// Holds begun in the span.
    pub holds: u64,
    pub hold_hours: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainStats {
    #[serde(flatten)]
    pub span: Span,
    pub holds: u64,
    pub hold_hours: f64,
    /// Whether the running train is held now.
    pub held_now: bool,
    /// Trains with a hold in the span, oldest first.
    pub trains: Vec<TrainStat>,
    pub weeks: Vec<TrainWeek>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainWeek {
    #[serde(flatten)]
    pub span: Span,
    pub holds: u64,
    pub hold_hours: f64,
}

/// A train change in time order.
enum Step {
    Start(String),
    Hold,
    Release,
}

pub fn stats(history: &dyn History, span: Span, now: DateTime<Utc>, tz: Tz) -> TrainStats {
    // Read back to the train that was running at the span's start.
    let mut steps: Vec<(DateTime<Utc>, Step)> = Vec::new();
    history.newest_first(&mut |event| {
        let mut started = false;
        for change in event.changes.iter().rev() {
            let step = match change {
                crate::Change::Train(Change::Start { version, .. }) => {
                    started = true;
                    Step::Start(version.clone())
                }
                crate::Change::Train(Change::Hold { .. }) => Step::Hold,
                crate::Change::Train(Change::Resume { .. }) => Step::Release,
                _ => continue,
            };
            steps.push((event.at, step));
        }
        !(started && event.at < span.since)
    });
    steps.reverse();

    let weeks = span.weeks(tz);
    let mut out = TrainStats {
        span,
        holds: 0,
        hold_hours: 0.0,
        held_now: false,
        trains: Vec::new(),
        weeks: weeks
            .iter()
            .map(|w| TrainWeek {
                span: *w,
                holds: 0,
                hold_hours: 0.0,
            })
            .collect(),
    };
    let mut version: Option<String> = None;
    let mut held: Option<DateTime<Utc>> = None;
    let end_hold = |out: &mut TrainStats, version: &Option<String>, from, to| {
        let hours = span.overlap_hours(from, to);
        if hours <= 0.0 {
            return;
        }
        let Some(v) = version else { return };
        out.hold_hours += hours;
        train(out, v).hold_hours += hours;
        for week in &mut out.weeks {
            week.hold_hours += week.span.overlap_hours(from, to);
        }
    };
    for (at, step) in steps {
        match step {
            Step::Start(v) => {
                if let Some(from) = held.take() {
                    end_hold(&mut out, &version, from, at);
                }
                version = Some(v);
            }
            Step::Hold => {
                if held.is_none() {
                    held = Some(at);
                    if span.contains(at)
                        && let Some(v) = &version
                    {
                        out.holds += 1;
                        train(&mut out, v).holds += 1;
                        if let Some(i) = Span::week_of(&weeks, at) {
                            out.weeks[i].holds += 1;
                        }
                    }
                }
            }
            Step::Release => {
                if let Some(from) = held.take() {
                    end_hold(&mut out, &version, from, at);
                }
            }
        }
    }
    if let Some(from) = held {
        out.held_now = true;
        end_hold(&mut out, &version, from, now);
    }
    out
}

/// The entry of `version`, added (as the newest) when missing.
fn train<'a>(out: &'a mut TrainStats, version: &str) -> &'a mut TrainStat {
    let i = match out.trains.iter().position(|t| t.version == version) {
        Some(i) => i,
        None => {
            out.trains.push(TrainStat {
                version: version.to_string(),
                holds: 0,
                hold_hours: 0.0,
            });
            out.trains.len() - 1
        }
    };
    &mut out.trains[i]
}
