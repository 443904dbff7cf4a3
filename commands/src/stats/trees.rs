//! How long trees stayed closed and why: closed hours by reason category
//! (the `#tags` given when closing, corrected by later amendments), per tree
//! and per week, and the number of closures.
//!
//! The walk reads the event log newest first and turns each status change
//! into a closed interval that ends at the tree's next change (or now). It
//! goes back past the span's start only as far as needed to find where the
//! closures still running at that start began, so a short span over a long
//! log reads little. Only `closed` counts: `approval required` lets landings
//! through.
//!
//! A closure with several tags splits its hours evenly among them, so the
//! categories add up to the total (the stacked chart stays honest); one
//! without tags counts as [`UNTAGGED`].

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::span::Span;
use crate::event::{EventId, History};
use crate::id::TreeName;
use crate::tree::{Change, Status, Trees};

/// The category of a closure given without tags.
pub const UNTAGGED: &str = "untagged";

/// One stretch of a tree being closed with the same tags.
#[derive(Debug, Clone, PartialEq)]
struct Closed {
    tree: TreeName,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    tags: Vec<String>,
    /// Whether the tree was not closed before (a new closure, not a re-tag).
    opens: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TreeStats {
    #[serde(flatten)]
    pub span: Span,
    /// The tree asked about, or every tree.
    pub tree: Option<TreeName>,
    /// Closures that began in the span.
    pub closures: u64,
    /// Hours closed within the span (closures begun earlier count from its start).
    pub closed_hours: f64,
    /// Category → hours; they add up to `closed_hours`.
    pub categories: BTreeMap<String, f64>,
    /// Tree → hours closed within the span.
    pub trees: BTreeMap<TreeName, f64>,
    /// Trees closed now.
    pub closed_now: Vec<TreeName>,
    pub weeks: Vec<TreeWeek>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TreeWeek {
    #[serde(flatten)]
    pub span: Span,
    pub closed_hours: f64,
    pub closures: u64,
    pub categories: BTreeMap<String, f64>,
}

/// The statistics of one tree (or all) over `span`. `trees` is the state now
/// (to know which trees are closed at the newest end of the log); `now` ends
/// closures still running.
pub fn stats(
    history: &dyn History,
    trees: &Trees,
    tree: Option<&TreeName>,
    span: Span,
    now: DateTime<Utc>,
    tz: Tz,
) -> TreeStats {
    let wanted = |t: &TreeName| tree.is_none_or(|x| x == t);
    let closed = closed_intervals(history, trees, span.since, now);
    let weeks = span.weeks(tz);
    let mut out = TreeStats {
        span,
        tree: tree.cloned(),
        closures: 0,
        closed_hours: 0.0,
        categories: BTreeMap::new(),
        trees: BTreeMap::new(),
        closed_now: trees
            .trees
            .values()
            .filter(|t| t.condition.status == Status::Closed && wanted(&t.name))
            .map(|t| t.name.clone())
            .collect(),
        weeks: weeks
            .iter()
            .map(|w| TreeWeek {
                span: *w,
                closed_hours: 0.0,
                closures: 0,
                categories: BTreeMap::new(),
            })
            .collect(),
    };
    for c in closed.iter().filter(|c| wanted(&c.tree)) {
        if c.opens && span.contains(c.start) {
            out.closures += 1;
            if let Some(i) = Span::week_of(&weeks, c.start) {
                out.weeks[i].closures += 1;
            }
        }
        let hours = span.overlap_hours(c.start, c.end);
        if hours <= 0.0 {
            continue;
        }
        out.closed_hours += hours;
        *out.trees.entry(c.tree.clone()).or_default() += hours;
        add_by_tag(&mut out.categories, &c.tags, hours);
        for week in &mut out.weeks {
            let h = week.span.overlap_hours(c.start, c.end);
            if h > 0.0 {
                week.closed_hours += h;
                add_by_tag(&mut week.categories, &c.tags, h);
            }
        }
    }
    out
}

fn add_by_tag(into: &mut BTreeMap<String, f64>, tags: &[String], hours: f64) {
    if tags.is_empty() {
        *into.entry(UNTAGGED.to_string()).or_default() += hours;
        return;
    }
    let share = hours / tags.len() as f64;
    for tag in tags {
        *into.entry(tag.clone()).or_default() += share;
    }
}

/// Every closed interval that may touch `[since, now)`, from the log.
fn closed_intervals(
    history: &dyn History,
    trees: &Trees,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Vec<Closed> {
    let mut out = Vec::new();
    // When each tree next changed, seen from the walk's position.
    let mut next: BTreeMap<TreeName, DateTime<Utc>> = BTreeMap::new();
    // Trees that may be closed at the walk's position: their closure began
    // further back. Starts as the trees closed now.
    let mut unresolved: BTreeSet<TreeName> = trees
        .trees
        .values()
        .filter(|t| t.condition.status == Status::Closed)
        .map(|t| t.name.clone())
        .collect();
    // Newest first, so the first amendment seen for an entry is its latest.
    let mut amended: BTreeMap<EventId, Vec<String>> = BTreeMap::new();
    history.newest_first(&mut |event| {
        for change in &event.changes {
            let crate::Change::Tree(change) = change else {
                continue;
            };
            match change {
                Change::Amend {
                    log,
                    tags: Some(tags),
                    ..
                } => {
                    amended.entry(*log).or_insert_with(|| tags.clone());
                }
                Change::Set { edits, .. } => {
                    for edit in edits {
                        let end = next.get(&edit.tree).copied().unwrap_or(now);
                        if edit.after.status == Status::Closed {
                            out.push(Closed {
                                tree: edit.tree.clone(),
                                start: event.at,
                                end,
                                tags: amended
                                    .get(&event.id)
                                    .cloned()
                                    .unwrap_or_else(|| edit.after.tags.clone()),
                                opens: edit.before.status != Status::Closed,
                            });
                        }
                        next.insert(edit.tree.clone(), event.at);
                        if edit.before.status == Status::Closed {
                            unresolved.insert(edit.tree.clone());
                        } else {
                            unresolved.remove(&edit.tree);
                        }
                    }
                }
                Change::Remove { tree } => {
                    // Whatever it was then ended here; what it was is further back.
                    next.insert(tree.clone(), event.at);
                    unresolved.insert(tree.clone());
                }
                Change::Add { tree } => {
                    unresolved.remove(tree);
                }
                Change::Amend { .. }
                | Change::Motd { .. }
                | Change::Warned { .. }
                | Change::Discard { .. } => {}
            }
        }
        event.at >= since || !unresolved.is_empty()
    });
    out
}
