//! Whether loaner requests are answered within the promise: the time from a
//! request to its approval or denial (median, 90th percentile), the share
//! answered by the pool's SLA deadline, and the requests still waiting.
//!
//! The deadline is the one fixed when the request was made (stored with it,
//! counted in the pool's working hours), so a later change of the pool's SLA
//! does not rewrite how the team did. Requests count in the span they were
//! made in; an answer after the span's end counts as no answer yet, so a
//! report over a past span reads as it would have then. Requests come from
//! the state (which keeps every one), answers from the log.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::span::{Span, hours, median, percentile};
use crate::event::History;
use crate::loaner::{Change, Loaners};

/// How a request was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    Approved,
    Denied,
}

/// One answered request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Answered {
    pub id: u64,
    pub pool: String,
    pub requested: DateTime<Utc>,
    pub answered: DateTime<Utc>,
    pub answer: Answer,
    pub response_hours: f64,
    /// Request → SLA deadline: the time the promise allowed.
    pub sla_hours: f64,
    pub within_sla: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoanerStats {
    #[serde(flatten)]
    pub span: Span,
    /// Requests made in the span.
    pub requests: u64,
    pub answered: u64,
    pub approved: u64,
    pub denied: u64,
    /// Withdrawn by the requester before an answer.
    pub cancelled: u64,
    /// Neither answered nor withdrawn by the span's end.
    pub pending: u64,
    /// Of those, the ones past their SLA deadline at the span's end.
    pub pending_overdue: u64,
    pub response_median_hours: Option<f64>,
    pub response_p90_hours: Option<f64>,
    pub within_sla: u64,
    /// `within_sla / answered`; null when nothing was answered.
    pub within_sla_share: Option<f64>,
    /// Oldest request first.
    pub answers: Vec<Answered>,
    pub weeks: Vec<LoanerWeek>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoanerWeek {
    #[serde(flatten)]
    pub span: Span,
    pub requests: u64,
    pub answered: u64,
    pub within_sla: u64,
    pub response_median_hours: Option<f64>,
}

pub fn stats(history: &dyn History, loaners: &Loaners, span: Span, tz: Tz) -> LoanerStats {
    // Request id → its answer, and → its withdrawal, within the span's reach.
    let mut answers: BTreeMap<u64, (DateTime<Utc>, Answer)> = BTreeMap::new();
    let mut cancels: BTreeMap<u64, DateTime<Utc>> = BTreeMap::new();
    history.newest_first(&mut |event| {
        if event.at < span.since {
            return false;
        }
        if event.at >= span.until {
            return true;
        }
        for change in &event.changes {
            let (id, answer) = match change {
                crate::Change::Loaner(Change::Approve { id, .. }) => (id, Answer::Approved),
                crate::Change::Loaner(Change::Deny { id, .. }) => (id, Answer::Denied),
                crate::Change::Loaner(Change::Cancel { id }) => {
                    cancels.insert(*id, event.at);
                    continue;
                }
                _ => continue,
            };
            // Newest first: the last one written is the first answer.
            answers.insert(*id, (event.at, answer));
        }
        true
    });
    let weeks = span.weeks(tz);
    let mut out = LoanerStats {
        span,
        requests: 0,
        answered: 0,
        approved: 0,
        denied: 0,
        cancelled: 0,
        pending: 0,
        pending_overdue: 0,
        response_median_hours: None,
        response_p90_hours: None,
        within_sla: 0,
        within_sla_share: None,
        answers: Vec::new(),
        weeks: weeks
            .iter()
            .map(|w| LoanerWeek {
                span: *w,
                requests: 0,
                answered: 0,
                within_sla: 0,
                response_median_hours: None,
            })
            .collect(),
    };
    let mut weekly: Vec<Vec<f64>> = vec![Vec::new(); weeks.len()];
    for r in loaners
        .requests
        .values()
        .filter(|r| span.contains(r.requested))
    {
        out.requests += 1;
        let week = Span::week_of(&weeks, r.requested);
        if let Some(i) = week {
            out.weeks[i].requests += 1;
        }
        if let Some(&(answered, answer)) = answers.get(&r.id) {
            let within = answered <= r.sla_due;
            let response = hours(answered - r.requested);
            out.answered += 1;
            match answer {
                Answer::Approved => out.approved += 1,
                Answer::Denied => out.denied += 1,
            }
            out.within_sla += u64::from(within);
            if let Some(i) = week {
                out.weeks[i].answered += 1;
                out.weeks[i].within_sla += u64::from(within);
                weekly[i].push(response);
            }
            out.answers.push(Answered {
                id: r.id,
                pool: r.pool.clone(),
                requested: r.requested,
                answered,
                answer,
                response_hours: response,
                sla_hours: hours(r.sla_due - r.requested),
                within_sla: within,
            });
        } else if cancels.contains_key(&r.id) {
            out.cancelled += 1;
        } else {
            out.pending += 1;
            out.pending_overdue += u64::from(r.sla_due <= span.until);
        }
    }
    out.answers.sort_by_key(|a| (a.requested, a.id));
    let responses: Vec<f64> = out.answers.iter().map(|a| a.response_hours).collect();
    out.response_median_hours = median(&responses);
    out.response_p90_hours = percentile(&responses, 90);
    out.within_sla_share = (out.answered > 0).then(|| out.within_sla as f64 / out.answered as f64);
    for (week, responses) in out.weeks.iter_mut().zip(&weekly) {
        week.response_median_hours = median(responses);
    }
    out
}
