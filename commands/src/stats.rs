//! Duty statistics: how the team's duties actually went over a span of
//! history — how long trees stayed closed and why, what deploy windows
//! carried, whether loaner requests were answered within the promise, how
//! long trains were held. `stats trees|windows|loaners|trains [RANGE]`
//! answers in chat with a few lines; `GET /api/v1/stats/…` and the `/stats`
//! page in the shell show the same numbers from the same functions.
//!
//! Everything is computed from the event log (the ledger's history), read
//! newest first and only as far back as the span needs; nothing is stored,
//! so statistics can never disagree with the history they summarise. Each
//! family's computation lives in its own module and is a pure function of
//! the history, the state now, the span and the time zone (for the weekly
//! buckets of the charts).

pub mod loaners;
pub mod span;
pub mod trains;
pub mod trees;
pub mod windows;

use chrono_tz::Tz;
use clap::Subcommand;

use crate::id::TreeName;
use crate::role::Permit;
use crate::when::{format_duration, format_instant};
use crate::{Context, Error, Outcome, State};

pub use span::Span;

/// Most trains a chat summary names.
const TRAINS_LISTED: usize = 5;

/// Most categories or trees a chat summary names.
const RANKED_LISTED: usize = 8;

/// Statistics of the duties over a range back from now (default 30d).
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
#[command(
    after_help = "examples:\n  !stats trees\n  !stats trees autoland 12w\n  !stats windows 7d\n  !stats loaners 90d\n  !stats trains\ncharts: the /stats page of the dashboard"
)]
pub enum Stats {
    /// Closed hours of the trees by reason category, and the closures.
    #[command(
        after_help = "examples:\n  !stats trees\n  !stats trees 12w\n  !stats trees autoland 30d"
    )]
    Trees {
        /// One tree (default: all); a word starting with a digit is the RANGE.
        tree: Option<String>,
        /// How far back from now: `7d`, `30d`, `12w` (default 30d, at most 366d).
        range: Option<String>,
    },
    /// Deploy windows held, patches logged in them, and their durations.
    #[command(after_help = "example:\n  !stats windows 12w")]
    Windows {
        /// How far back from now: `7d`, `30d`, `12w` (default 30d).
        range: Option<String>,
    },
    /// Loaner response times (median, p90) and the share answered within SLA.
    #[command(after_help = "example:\n  !stats loaners 90d")]
    Loaners {
        /// How far back from now: `7d`, `30d`, `12w` (default 30d).
        range: Option<String>,
    },
    /// Train hold hours, per train, and holds per train.
    #[command(after_help = "example:\n  !stats trains 12w")]
    Trains {
        /// How far back from now: `7d`, `30d`, `12w` (default 30d).
        range: Option<String>,
    },
}

impl Stats {
    pub fn permit(&self) -> Permit {
        match self {
            Stats::Trees { .. }
            | Stats::Windows { .. }
            | Stats::Loaners { .. }
            | Stats::Trains { .. } => Permit::Anyone,
        }
    }

    pub fn verb(&self) -> &'static str {
        match self {
            Stats::Trees { .. } => "trees",
            Stats::Windows { .. } => "windows",
            Stats::Loaners { .. } => "loaners",
            Stats::Trains { .. } => "trains",
        }
    }
}

pub fn handle(cmd: &Stats, ctx: &Context, state: &State) -> Result<Outcome, Error> {
    let tz = ctx.zone;
    let span_of = |range: Option<&str>| match range {
        Some(r) => Span::parse_range(r, ctx.now),
        None => Ok(Span::default_at(ctx.now)),
    };
    let reply = match cmd {
        Stats::Trees { tree, range } => {
            // `stats trees 30d`: the one word is the range.
            let (tree, range) = match (tree.as_deref(), range.as_deref()) {
                (Some(t), None) if t.starts_with(|c: char| c.is_ascii_digit()) => (None, Some(t)),
                other => other,
            };
            let span = span_of(range)?;
            let tree = tree
                .filter(|t| !t.eq_ignore_ascii_case("all"))
                .map(|t| known_tree(state, t))
                .transpose()?;
            let s = trees::stats(ctx.history, &state.trees, tree.as_ref(), span, ctx.now, tz);
            trees_summary(&s, &last(range))
        }
        Stats::Windows { range } => {
            let span = span_of(range.as_deref())?;
            windows_summary(
                &windows::stats(ctx.history, span, tz),
                &last(range.as_deref()),
                tz,
            )
        }
        Stats::Loaners { range } => {
            let span = span_of(range.as_deref())?;
            loaners_summary(
                &loaners::stats(ctx.history, &state.loaners, span, tz),
                &last(range.as_deref()),
            )
        }
        Stats::Trains { range } => {
            let span = span_of(range.as_deref())?;
            trains_summary(
                &trains::stats(ctx.history, span, ctx.now, tz),
                &last(range.as_deref()),
            )
        }
    };
    Ok(Outcome::reply(reply))
}

/// How a chat range reads in a summary: `last 30d`.
fn last(range: Option<&str>) -> String {
    format!("last {}", range.unwrap_or("30d"))
}

/// The tree named `name`, or a not-found error listing the trees.
pub fn known_tree(state: &State, name: &str) -> Result<TreeName, Error> {
    state
        .trees
        .get(name)
        .map(|t| t.name.clone())
        .ok_or_else(|| {
            Error::not_found(format!(
                "tree \"{}\" is unknown; trees are: {}",
                crate::words::prefix(name, 60),
                state.trees.names()
            ))
        })
}

fn h(hours: f64) -> String {
    format!("{hours:.1} h")
}

fn minutes(m: f64) -> String {
    format_duration(chrono::Duration::seconds((m * 60.0).round() as i64))
}

fn duration_h(hours: f64) -> String {
    format_duration(chrono::Duration::seconds((hours * 3600.0).round() as i64))
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Categories (or trees) by hours, largest first, ties by name; at most
/// [`RANKED_LISTED`], then how many more.
fn ranked<K: std::fmt::Display>(items: impl Iterator<Item = (K, f64)>) -> String {
    let mut v: Vec<(String, f64)> = items.map(|(k, x)| (k.to_string(), x)).collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut parts: Vec<String> = v
        .iter()
        .take(RANKED_LISTED)
        .map(|(k, x)| format!("{k} {}", h(*x)))
        .collect();
    if v.len() > RANKED_LISTED {
        parts.push(format!("and {} more", v.len() - RANKED_LISTED));
    }
    parts.join(", ")
}

/// The summaries below take the span as it should read (`last 30d`).
pub fn trees_summary(s: &trees::TreeStats, range: &str) -> String {
    let what = match &s.tree {
        Some(t) => format!("tree {t}"),
        None => "trees".to_string(),
    };
    let mut head = format!(
        "{what}, {range}: closed {} in {}",
        h(s.closed_hours),
        plural(s.closures, "closure", "closures")
    );
    if !s.closed_now.is_empty() {
        let names: Vec<&str> = s.closed_now.iter().map(|t| t.as_str()).collect();
        head.push_str(&format!("; closed now: {}", names.join(", ")));
    }
    if s.closed_hours <= 0.0 {
        return head;
    }
    let mut lines = vec![head];
    lines.push(format!(
        "by category: {}",
        ranked(s.categories.iter().map(|(k, v)| (k, *v)))
    ));
    if s.tree.is_none() {
        lines.push(format!(
            "by tree: {}",
            ranked(s.trees.iter().map(|(k, v)| (k, *v)))
        ));
    }
    lines.join("\n")
}

pub fn windows_summary(s: &windows::WindowStats, range: &str, tz: Tz) -> String {
    let mut head = format!("windows, {range}: {} held", s.windows);
    if s.open > 0 {
        head.push_str(&format!(" ({} still open)", s.open));
    }
    let Some(per) = s.patches_per_window else {
        return head;
    };
    head.push_str(&format!(
        ", {} ({per:.1} per window)",
        plural(s.patches, "patch", "patches")
    ));
    let mut lines = vec![head];
    if let Some(median) = s.duration_median_minutes {
        lines.push(format!(
            "duration: median {}, total {}",
            minutes(median),
            minutes(s.duration_total_minutes)
        ));
    }
    if let Some(most) = s
        .held
        .iter()
        .filter(|w| w.patches > 0 && s.windows > 1)
        .max_by_key(|w| (w.patches, std::cmp::Reverse(w.opened)))
    {
        lines.push(format!(
            "most patches: {} opened {} ({})",
            most.window,
            format_instant(most.opened, tz),
            most.patches
        ));
    }
    lines.join("\n")
}

pub fn loaners_summary(s: &loaners::LoanerStats, range: &str) -> String {
    let mut head = format!(
        "loaners, {range}: {}; {} answered ({} approved, {} denied)",
        plural(s.requests, "request", "requests"),
        s.answered,
        s.approved,
        s.denied
    );
    if s.cancelled > 0 {
        head.push_str(&format!(", {} cancelled", s.cancelled));
    }
    head.push_str(&format!(", {} pending", s.pending));
    if s.pending_overdue > 0 {
        head.push_str(&format!(" ({} past SLA)", s.pending_overdue));
    }
    let (Some(median), Some(p90), Some(share)) = (
        s.response_median_hours,
        s.response_p90_hours,
        s.within_sla_share,
    ) else {
        return head;
    };
    format!(
        "{head}\nresponse: median {}, p90 {}; within SLA: {:.0}% ({} of {})",
        duration_h(median),
        duration_h(p90),
        share * 100.0,
        s.within_sla,
        s.answered
    )
}

pub fn trains_summary(s: &trains::TrainStats, range: &str) -> String {
    let mut head = format!(
        "trains, {range}: held {} in {}",
        h(s.hold_hours),
        plural(s.holds, "hold", "holds")
    );
    if s.held_now {
        head.push_str("; held now");
    }
    if s.trains.is_empty() {
        return head;
    }
    let newest = s.trains.iter().rev().take(TRAINS_LISTED);
    let mut per: Vec<String> = newest
        .map(|t| {
            format!(
                "{} {} in {}",
                t.version,
                h(t.hold_hours),
                plural(t.holds, "hold", "holds")
            )
        })
        .collect();
    if s.trains.len() > TRAINS_LISTED {
        per.push(format!("and {} more", s.trains.len() - TRAINS_LISTED));
    }
    format!("{head}\nper train (newest first): {}", per.join("; "))
}

#[cfg(test)]
pub(crate) mod tests;
