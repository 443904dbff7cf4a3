//! Loaners: CI machines developers borrow. A request names a pool; whoever
//! is on CI duty approves it (assigning the named machine or the first free
//! one, or wait-listing it when none is free) or denies it; the bot reminds
//! the borrower 24 h and 1 h before the loan expires, marks it expired and
//! asks CI duty to reclaim it, and flags a request still pending past the
//! pool's response SLA, counted in working hours.
//!
//! Every automatic step is a one-shot timer derived from the state, and its
//! firing is recorded in the same event as its effect (a flag on the
//! request), so each happens exactly once, also across restarts. The SLA
//! deadline is computed when the request is made and stored with it, so the
//! timers need no configuration.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use clap::Subcommand;
use serde::{Deserialize, Serialize};

use crate::event::Event;
use crate::id::PersonId;
use crate::role::{Permit, Role};
use crate::when::{format_duration, format_instant, parse_duration};
use crate::{AnnounceKind, Announcement, Audience, Context, Error, Outcome};

/// Working hours: the days and the daily span in a time zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    pub days: Vec<Weekday>,
    pub start: NaiveTime,
    pub end: NaiveTime,
    pub timezone: Tz,
}

impl Calendar {
    /// The instant `work` working time after `from`.
    pub fn add_working(&self, from: DateTime<Utc>, work: Duration) -> DateTime<Utc> {
        let mut left = work;
        let mut day = from.with_timezone(&self.timezone).date_naive();
        // Bounded: at most ~3 years of days, far beyond any SLA.
        for _ in 0..1100 {
            if self.days.contains(&day.weekday()) {
                let local = |t: NaiveTime| {
                    self.timezone
                        .from_local_datetime(&day.and_time(t))
                        .earliest()
                        .map(|x| x.with_timezone(&Utc))
                };
                if let (Some(open), Some(close)) = (local(self.start), local(self.end)) {
                    let begin = open.max(from);
                    if begin < close {
                        if close - begin >= left {
                            return begin + left;
                        }
                        left -= close - begin;
                    }
                }
            }
            match day.succ_opt() {
                Some(next) => day = next,
                None => break,
            }
        }
        from + work
    }
}

/// A pool of machines, from config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    pub name: String,
    pub description: String,
    pub machines: Vec<String>,
    pub default_loan: Duration,
    pub max_loan: Duration,
    pub max_extensions: u32,
    /// Most open requests (pending, wait-listed, active) per person.
    pub quota: u32,
    /// Response time in working hours.
    pub sla: Duration,
    pub calendar: Calendar,
}

/// Request, approve, extend and return CI loaner machines.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
#[command(
    after_help = "examples:\n  !loaner request linux-large for 3d reproduce a flaky test\n  !loaner list pending\n  !loaner approve 3\n  !loaner extend 3 2d\n  !loaner return 3"
)]
pub enum Loaner {
    /// Ask for a machine from a pool (for the pool's default length unless `3d` or `for 3d`).
    #[command(after_help = "example:\n  !loaner request linux-large for 3d reproduce bug 456")]
    Request {
        pool: String,
        /// `[[for] DURATION] REASON…`
        #[arg(required = true, num_args = 1.., trailing_var_arg = true, allow_hyphen_values = true)]
        words: Vec<String>,
    },
    /// Each pool with its free, lent and wait-listed machines' counts.
    #[command(after_help = "example:\n  !loaner pools")]
    Pools,
    /// List requests and loans: pending, active, mine or all (default: open ones).
    #[command(after_help = "examples:\n  !loaner list\n  !loaner list mine")]
    List { filter: Option<String> },
    /// Approve request N and assign MACHINE or the first free one (or wait-list it).
    #[command(after_help = "examples:\n  !loaner approve 3\n  !loaner approve 3 ci-linux-02")]
    Approve { id: String, machine: Option<String> },
    /// Deny request N.
    #[command(after_help = "example:\n  !loaner deny 3 use try instead")]
    Deny {
        id: String,
        #[arg(required = true, num_args = 1.., trailing_var_arg = true, allow_hyphen_values = true)]
        reason: Vec<String>,
    },
    /// Extend loan N (requester or CI duty), within the pool's limits.
    #[command(after_help = "example:\n  !loaner extend 3 2d")]
    Extend { id: String, duration: String },
    /// Give machine of loan N back (requester or CI duty).
    #[command(after_help = "example:\n  !loaner return 3")]
    Return { id: String },
    /// Withdraw your request N while it is pending.
    #[command(after_help = "example:\n  !loaner cancel 3")]
    Cancel { id: String },
}

impl Loaner {
    pub fn permit(&self) -> Permit {
        match self {
            Loaner::List { .. } | Loaner::Pools => Permit::Anyone,
            Loaner::Request { .. }
            | Loaner::Extend { .. }
            | Loaner::Return { .. }
            | Loaner::Cancel { .. } => Permit::Identified,
            Loaner::Approve { .. } | Loaner::Deny { .. } => Permit::Role(Role::Ciduty),
        }
    }

    pub fn verb(&self) -> &'static str {
        match self {
            Loaner::Request { .. } => "request",
            Loaner::List { .. } => "list",
            Loaner::Pools => "pools",
            Loaner::Approve { .. } => "approve",
            Loaner::Deny { .. } => "deny",
            Loaner::Extend { .. } => "extend",
            Loaner::Return { .. } => "return",
            Loaner::Cancel { .. } => "cancel",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pending,
    /// Approved, waiting for a machine.
    Waitlisted,
    Active,
    Denied,
    Cancelled,
    Returned,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Waitlisted => "wait-listed",
            Status::Active => "active",
            Status::Denied => "denied",
            Status::Cancelled => "cancelled",
            Status::Returned => "returned",
        }
    }

    fn open(self) -> bool {
        matches!(self, Status::Pending | Status::Waitlisted | Status::Active)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub id: u64,
    pub pool: String,
    pub requester: PersonId,
    pub reason: String,
    pub length: Duration,
    pub requested: DateTime<Utc>,
    /// When the request is overdue if still pending.
    pub sla_due: DateTime<Utc>,
    pub status: Status,
    pub decided_by: Option<String>,
    pub note: String,
    pub machine: Option<String>,
    pub assigned: Option<DateTime<Utc>>,
    pub expires: Option<DateTime<Utc>>,
    pub extensions: u32,
    pub reminded_24h: bool,
    pub reminded_1h: bool,
    pub expired: bool,
    pub overdue: bool,
}

impl Request {
    /// Still pending past its answer-by time (flagged by the SLA job, or due
    /// by `now` before the job has run): what lists and the board mark.
    pub fn overdue_at(&self, now: DateTime<Utc>) -> bool {
        self.status == Status::Pending && (self.overdue || now >= self.sla_due)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    Request {
        pool: String,
        length: Duration,
        reason: String,
        sla_due: DateTime<Utc>,
    },
    /// Approved: assigned when `machine` is given, wait-listed otherwise.
    Approve {
        id: u64,
        machine: Option<String>,
        expires: Option<DateTime<Utc>>,
    },
    /// A wait-listed request got a machine that came back.
    Assign {
        id: u64,
        machine: String,
        expires: DateTime<Utc>,
    },
    Deny {
        id: u64,
        reason: String,
    },
    Cancel {
        id: u64,
    },
    Extend {
        id: u64,
        expires: DateTime<Utc>,
    },
    Return {
        id: u64,
    },
    Reminded {
        id: u64,
        hours: u32,
    },
    Expired {
        id: u64,
    },
    Overdue {
        id: u64,
    },
}

/// The loaners family's state: every request by id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Loaners {
    pub requests: BTreeMap<u64, Request>,
    pub next: u64,
}

impl Loaners {
    pub fn apply(&mut self, event: &Event, change: &Change) {
        let at = event.at;
        if let Change::Request {
            pool,
            length,
            reason,
            sla_due,
        } = change
        {
            self.next += 1;
            if let Some(requester) = &event.actor.person {
                self.requests.insert(
                    self.next,
                    Request {
                        id: self.next,
                        pool: pool.clone(),
                        requester: requester.clone(),
                        reason: reason.clone(),
                        length: *length,
                        requested: at,
                        sla_due: *sla_due,
                        status: Status::Pending,
                        decided_by: None,
                        note: String::new(),
                        machine: None,
                        assigned: None,
                        expires: None,
                        extensions: 0,
                        reminded_24h: false,
                        reminded_1h: false,
                        expired: false,
                        overdue: false,
                    },
                );
            }
            return;
        }
        let id = match change {
            Change::Request { .. } => return,
            Change::Approve { id, .. }
            | Change::Assign { id, .. }
            | Change::Deny { id, .. }
            | Change::Cancel { id }
            | Change::Extend { id, .. }
            | Change::Return { id }
            | Change::Reminded { id, .. }
            | Change::Expired { id }
            | Change::Overdue { id } => *id,
        };
        let Some(r) = self.requests.get_mut(&id) else {
            return;
        };
        match change {
            Change::Request { .. } => {}
            Change::Approve {
                machine, expires, ..
            } => {
                r.decided_by = Some(event.actor.name().to_string());
                match machine {
                    Some(m) => {
                        r.status = Status::Active;
                        r.machine = Some(m.clone());
                        r.assigned = Some(at);
                        r.expires = *expires;
                    }
                    None => r.status = Status::Waitlisted,
                }
            }
            Change::Assign {
                machine, expires, ..
            } => {
                r.status = Status::Active;
                r.machine = Some(machine.clone());
                r.assigned = Some(at);
                r.expires = Some(*expires);
            }
            Change::Deny { reason, .. } => {
                r.status = Status::Denied;
                r.decided_by = Some(event.actor.name().to_string());
                r.note = reason.clone();
            }
            Change::Cancel { .. } => r.status = Status::Cancelled,
            Change::Extend { expires, .. } => {
                r.expires = Some(*expires);
                r.extensions += 1;
                r.expired = false;
                if *expires - Duration::hours(24) > at {
                    r.reminded_24h = false;
                }
                if *expires - Duration::hours(1) > at {
                    r.reminded_1h = false;
                }
            }
            Change::Return { .. } => r.status = Status::Returned,
            Change::Reminded { hours, .. } => {
                if *hours >= 24 {
                    r.reminded_24h = true;
                } else {
                    r.reminded_1h = true;
                }
            }
            Change::Expired { .. } => r.expired = true,
            Change::Overdue { .. } => r.overdue = true,
        }
    }

    /// Reminders, expiries and SLA deadlines still to come.
    pub fn timers(&self) -> Vec<(DateTime<Utc>, crate::Job)> {
        let mut out = Vec::new();
        for r in self.requests.values() {
            match r.status {
                Status::Pending if !r.overdue => {
                    out.push((r.sla_due, crate::Job::LoanerOverdue { id: r.id }));
                }
                Status::Active => {
                    let (Some(expires), Some(assigned)) = (r.expires, r.assigned) else {
                        continue;
                    };
                    for (hours, done) in [(24, r.reminded_24h), (1, r.reminded_1h)] {
                        let at = expires - Duration::hours(hours);
                        if !done && at > assigned {
                            out.push((
                                at,
                                crate::Job::LoanerRemind {
                                    id: r.id,
                                    hours: hours as u32,
                                },
                            ));
                        }
                    }
                    if !r.expired {
                        out.push((expires, crate::Job::LoanerExpire { id: r.id }));
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// Who holds `machine` now, if anyone.
    pub fn holder(&self, machine: &str) -> Option<&Request> {
        self.requests
            .values()
            .find(|r| r.status == Status::Active && r.machine.as_deref() == Some(machine))
    }
}

fn pool<'a>(ctx: &'a Context, name: &str) -> Result<&'a Pool, Error> {
    ctx.settings
        .pools
        .iter()
        .find(|p| p.name == name)
        .ok_or_else(|| {
            let names: Vec<&str> = ctx.settings.pools.iter().map(|p| p.name.as_str()).collect();
            Error::not_found(format!(
                "pool \"{name}\" is unknown; pools are: {}",
                if names.is_empty() {
                    "none configured".to_string()
                } else {
                    names.join(", ")
                }
            ))
        })
}

fn request<'a>(loaners: &'a Loaners, id: &str) -> Result<&'a Request, Error> {
    let n: u64 = id.trim_start_matches('#').parse().map_err(|_| {
        Error::invalid(format!(
            "request id \"{id}\" is malformed; use a number like 3"
        ))
    })?;
    loaners
        .requests
        .get(&n)
        .ok_or_else(|| Error::not_found(format!("loaner request #{n} does not exist")))
}

/// `for 3d` at the start or the end of the words, and the reason.
fn length_and_reason(words: &[String], pool: &Pool) -> Result<(Duration, String), Error> {
    let mut words = words.to_vec();
    let mut length = None;
    if words.len() >= 2 && words[0] == "for" && words[1].starts_with(|c: char| c.is_ascii_digit()) {
        length = Some(parse_duration(&words[1])?);
        words.drain(..2);
    } else if let Some(d) = words
        .first()
        .filter(|w| w.starts_with(|c: char| c.is_ascii_digit()))
        .and_then(|w| parse_duration(w).ok())
    {
        // A bare length first (`3d reproduce …`); a first word that is no
        // duration (`2 flaky tests`) stays in the reason.
        length = Some(d);
        words.remove(0);
    } else if let [.., k, v] = words.as_slice()
        && k == "for"
        && v.starts_with(|c: char| c.is_ascii_digit())
    {
        length = Some(parse_duration(v)?);
        words.truncate(words.len() - 2);
    }
    let length = length.unwrap_or(pool.default_loan);
    if length > pool.max_loan {
        return Err(Error::invalid(format!(
            "a loan from {} lasts at most {}; \"{}\" is longer",
            pool.name,
            format_duration(pool.max_loan),
            format_duration(length)
        )));
    }
    let reason = words.join(" ");
    if reason.trim().is_empty() {
        return Err(Error::invalid(
            "loaner request needs a reason, e.g. \"reproduce bug 456\"",
        ));
    }
    Ok((length, reason))
}

fn dm(person: &PersonId, text: String) -> Announcement {
    Announcement {
        to: Audience::Person(person.clone()),
        text,
    }
}

fn line(r: &Request, ctx: &Context) -> String {
    let tz = ctx.zone;
    let mut s = format!(
        "#{} {} {} ({}): {} — {}",
        r.id,
        r.requester,
        r.pool,
        format_duration(r.length),
        r.reason,
        r.status.as_str()
    );
    match r.status {
        Status::Pending => {
            s.push_str(&format!(" for {}", format_duration(ctx.now - r.requested)));
            if r.overdue_at(ctx.now) {
                s.push_str(" (OVERDUE)");
            }
        }
        Status::Active => {
            if let (Some(m), Some(e)) = (&r.machine, r.expires) {
                s.push_str(&format!(" on {m} until {}", format_instant(e, tz)));
            }
            if r.expired {
                s.push_str(" (EXPIRED)");
            }
        }
        Status::Denied => s.push_str(&format!(": {}", r.note)),
        _ => {}
    }
    s
}

/// The requester, or a caller with `ciduty`.
fn requester_or_ciduty(ctx: &Context, r: &Request, verb: &str) -> Result<(), Error> {
    let mine = ctx.caller.person.as_ref() == Some(&r.requester);
    if mine || ctx.caller.has(Role::Ciduty) {
        Ok(())
    } else {
        Err(ctx.caller.refuse(
            &format!("loaner {verb}"),
            Role::Ciduty,
            &format!("did not request #{}", r.id),
        ))
    }
}

pub fn handle(cmd: &Loaner, ctx: &Context, loaners: &Loaners) -> Result<Outcome, Error> {
    let tz = ctx.zone;
    let me = ctx.caller.name().to_string();
    let prefix = &ctx.settings.prefix;
    match cmd {
        Loaner::Request { pool: name, words } => {
            let pool = pool(ctx, name)?;
            let (length, reason) = length_and_reason(words, pool)?;
            let person = ctx
                .caller
                .person
                .clone()
                .ok_or_else(|| Error::invalid("loaner request needs an identified account"))?;
            let open = loaners
                .requests
                .values()
                .filter(|r| r.pool == pool.name && r.requester == person && r.status.open())
                .count();
            if open >= pool.quota as usize {
                return Err(Error::conflict(format!(
                    "{person} already has {open} open request(s) in {} (quota {}); return or cancel one first",
                    pool.name, pool.quota
                )));
            }
            let id = loaners.next + 1;
            let sla_due = pool.calendar.add_working(ctx.now, pool.sla);
            let reply = format!(
                "request #{id} queued for {} ({}); CI duty is notified",
                pool.name,
                format_duration(length)
            );
            Ok(Outcome::reply(reply)
                .change(crate::Change::Loaner(Change::Request {
                    pool: pool.name.clone(),
                    length,
                    reason: reason.clone(),
                    sla_due,
                }))
                .announce(Announcement::to(
                    AnnounceKind::Loaners,
                    format!(
                        "new loaner request #{id} by {person}: {} for {}: {reason}; answer by {} ({prefix}loaner approve {id} / {prefix}loaner deny {id} REASON)",
                        pool.name,
                        format_duration(length),
                        format_instant(sla_due, tz)
                    ),
                )))
        }
        Loaner::Pools => {
            if ctx.settings.pools.is_empty() {
                return Ok(Outcome::reply("no loaner pools are configured"));
            }
            let lines: Vec<String> = ctx
                .settings
                .pools
                .iter()
                .map(|p| {
                    let lent = p
                        .machines
                        .iter()
                        .filter(|m| loaners.holder(m).is_some())
                        .count();
                    let count = |status: Status| {
                        loaners
                            .requests
                            .values()
                            .filter(|r| r.pool == p.name && r.status == status)
                            .count()
                    };
                    format!(
                        "{}: {} free, {lent} lent, {} wait-listed, {} pending (of {})",
                        p.name,
                        p.machines.len() - lent,
                        count(Status::Waitlisted),
                        count(Status::Pending),
                        p.machines.len()
                    )
                })
                .collect();
            Ok(Outcome::reply(lines.join("\n")))
        }
        Loaner::List { filter } => {
            let f = filter.as_deref().map(str::to_lowercase);
            let keep = |r: &Request| match f.as_deref() {
                None => r.status.open(),
                Some("pending") => matches!(r.status, Status::Pending | Status::Waitlisted),
                Some("active") => r.status == Status::Active,
                Some("mine") => ctx.caller.person.as_ref() == Some(&r.requester),
                _ => true,
            };
            if let Some(other) = f.as_deref()
                && !["pending", "active", "mine", "all"].contains(&other)
            {
                return Err(Error::invalid(format!(
                    "list \"{other}\" is unknown; use pending, active, mine or all"
                )));
            }
            let lines: Vec<String> = loaners
                .requests
                .values()
                .filter(|r| keep(r))
                .map(|r| line(r, ctx))
                .collect();
            if lines.is_empty() {
                return Ok(Outcome::reply("no loaner requests match"));
            }
            Ok(Outcome::reply(lines.join("\n")))
        }
        Loaner::Approve { id, machine } => {
            let r = request(loaners, id)?;
            if r.status != Status::Pending {
                return Err(Error::conflict(format!(
                    "request #{} is already decided: {}{}",
                    r.id,
                    r.status.as_str(),
                    r.decided_by
                        .as_ref()
                        .map(|b| format!(" by {b}"))
                        .unwrap_or_default()
                )));
            }
            let pool = pool(ctx, &r.pool)?;
            let chosen = match machine {
                Some(m) => {
                    if !pool.machines.contains(m) {
                        return Err(Error::not_found(format!(
                            "machine \"{m}\" is not in pool {}; machines are: {}",
                            pool.name,
                            pool.machines.join(", ")
                        )));
                    }
                    if let Some(h) = loaners.holder(m) {
                        return Err(Error::conflict(format!(
                            "machine {m} is on loan to {} (#{})",
                            h.requester, h.id
                        )));
                    }
                    Some(m.clone())
                }
                None => pool
                    .machines
                    .iter()
                    .find(|m| loaners.holder(m).is_none())
                    .cloned(),
            };
            let expires = chosen.as_ref().map(|_| ctx.now + r.length);
            let (reply, dm_text) = match (&chosen, expires) {
                (Some(m), Some(e)) => (
                    format!(
                        "approved #{}: {m} to {} until {}",
                        r.id,
                        crate::mention::ping(&r.requester),
                        format_instant(e, tz)
                    ),
                    format!(
                        "your loaner request #{} is approved: {m} is yours until {} (extend with {prefix}loaner extend {} 1d, give it back with {prefix}loaner return {})",
                        r.id,
                        format_instant(e, tz),
                        r.id,
                        r.id
                    ),
                ),
                _ => {
                    let ahead = loaners
                        .requests
                        .values()
                        .filter(|x| x.pool == r.pool && x.status == Status::Waitlisted)
                        .count();
                    (
                        format!(
                            "approved #{}; no machine in {} is free, so it is wait-listed (position {})",
                            r.id,
                            pool.name,
                            ahead + 1
                        ),
                        format!(
                            "your loaner request #{} is approved and wait-listed (position {}); you will get the next machine that comes back",
                            r.id,
                            ahead + 1
                        ),
                    )
                }
            };
            Ok(Outcome::reply(reply.clone())
                .change(crate::Change::Loaner(Change::Approve {
                    id: r.id,
                    machine: chosen,
                    expires,
                }))
                .announce(dm(&r.requester, dm_text))
                .announce(Announcement::to(
                    AnnounceKind::Loaners,
                    format!("{me} {reply}"),
                )))
        }
        Loaner::Deny { id, reason } => {
            let r = request(loaners, id)?;
            if !matches!(r.status, Status::Pending | Status::Waitlisted) {
                return Err(Error::conflict(format!(
                    "request #{} is already decided: {}",
                    r.id,
                    r.status.as_str()
                )));
            }
            let reason = reason.join(" ");
            Ok(Outcome::reply(format!("denied #{}: {reason}", r.id))
                .change(crate::Change::Loaner(Change::Deny {
                    id: r.id,
                    reason: reason.clone(),
                }))
                .announce(dm(
                    &r.requester,
                    format!("your loaner request #{} was denied by {me}: {reason}", r.id),
                )))
        }
        Loaner::Extend { id, duration } => {
            let r = request(loaners, id)?;
            requester_or_ciduty(ctx, r, "extend")?;
            let by = parse_duration(duration)?;
            let (Status::Active, Some(expires), Some(assigned)) = (r.status, r.expires, r.assigned)
            else {
                return Err(Error::conflict(format!(
                    "request #{} is {}, not an active loan",
                    r.id,
                    r.status.as_str()
                )));
            };
            let pool = pool(ctx, &r.pool)?;
            if r.extensions >= pool.max_extensions {
                return Err(Error::conflict(format!(
                    "loan #{} was already extended {} time(s), the most {} allows",
                    r.id, r.extensions, pool.name
                )));
            }
            let new = expires + by;
            if new - assigned > pool.max_loan {
                return Err(Error::invalid(format!(
                    "extending #{} by {duration} would make the loan {}; {} allows at most {} (until {})",
                    r.id,
                    format_duration(new - assigned),
                    pool.name,
                    format_duration(pool.max_loan),
                    format_instant(assigned + pool.max_loan, tz)
                )));
            }
            let text = format!(
                "extended #{} ({}) until {} (extension {} of {})",
                r.id,
                r.machine.as_deref().unwrap_or("?"),
                format_instant(new, tz),
                r.extensions + 1,
                pool.max_extensions
            );
            Ok(Outcome::reply(text.clone())
                .change(crate::Change::Loaner(Change::Extend {
                    id: r.id,
                    expires: new,
                }))
                .announce(Announcement::to(
                    AnnounceKind::Loaners,
                    format!("{me} {text}"),
                )))
        }
        Loaner::Return { id } => {
            let r = request(loaners, id)?;
            requester_or_ciduty(ctx, r, "return")?;
            let (Status::Active, Some(machine)) = (r.status, r.machine.clone()) else {
                return Err(Error::conflict(format!(
                    "request #{} is {}, not an active loan",
                    r.id,
                    r.status.as_str()
                )));
            };
            let mut outcome = Outcome::reply(format!("#{} returned: {machine} is free", r.id))
                .change(crate::Change::Loaner(Change::Return { id: r.id }))
                .announce(Announcement::to(
                    AnnounceKind::Loaners,
                    format!("{me} returned {machine} (#{})", r.id),
                ));
            let next = loaners
                .requests
                .values()
                .find(|x| x.pool == r.pool && x.status == Status::Waitlisted);
            if let Some(w) = next {
                let expires = ctx.now + w.length;
                outcome.reply = format!(
                    "#{} returned: {machine} goes to {} (#{})",
                    r.id, w.requester, w.id
                );
                outcome = outcome
                    .change(crate::Change::Loaner(Change::Assign {
                        id: w.id,
                        machine: machine.clone(),
                        expires,
                    }))
                    .announce(dm(
                        &w.requester,
                        format!(
                            "your wait-listed loaner request #{} got {machine}; it is yours until {}",
                            w.id,
                            format_instant(expires, tz)
                        ),
                    ))
                    .announce(Announcement::to(
                        AnnounceKind::Loaners,
                        format!(
                            "assigned {machine} to {} (#{}) from the wait-list, until {}",
                            crate::mention::ping(&w.requester),
                            w.id,
                            format_instant(expires, tz)
                        ),
                    ));
            }
            Ok(outcome)
        }
        Loaner::Cancel { id } => {
            let r = request(loaners, id)?;
            if ctx.caller.person.as_ref() != Some(&r.requester) {
                return Err(Error::Permission {
                    action: "loaner cancel".into(),
                    need: crate::error::Need::Identified,
                    who: format!("only {} (the requester) may cancel #{}", r.requester, r.id),
                });
            }
            if !matches!(r.status, Status::Pending | Status::Waitlisted) {
                return Err(Error::conflict(format!(
                    "request #{} is {}; only a pending request can be cancelled",
                    r.id,
                    r.status.as_str()
                )));
            }
            Ok(Outcome::reply(format!("cancelled #{}", r.id))
                .change(crate::Change::Loaner(Change::Cancel { id: r.id }))
                .announce(Announcement::to(
                    AnnounceKind::Loaners,
                    format!("{me} cancelled loaner request #{}", r.id),
                )))
        }
    }
}

/// Reminders, expiry and SLA warnings, each once.
pub fn run_job(job: &crate::Job, ctx: &Context, loaners: &Loaners) -> Outcome {
    let tz = ctx.zone;
    let prefix = &ctx.settings.prefix;
    match job {
        crate::Job::LoanerRemind { id, hours } => {
            let Some(r) = loaners.requests.get(id) else {
                return Outcome::default();
            };
            let done = if *hours >= 24 { r.reminded_24h } else { r.reminded_1h };
            let (Status::Active, Some(expires), false) = (r.status, r.expires, done) else {
                return Outcome::default();
            };
            let at = expires - Duration::hours(i64::from(*hours));
            if ctx.now < at {
                return Outcome::default();
            }
            let mut outcome = Outcome::reply(String::new()).change(crate::Change::Loaner(
                Change::Reminded { id: *id, hours: *hours },
            ));
            // After downtime only the reminder still ahead of the next one
            // (or of the expiry) is worth sending.
            let next = if *hours >= 24 { expires - Duration::hours(1) } else { expires };
            if ctx.now < next {
                outcome = outcome.announce(dm(
                    &r.requester,
                    format!(
                        "your loaner {} (#{}) expires at {} (in {}); extend with {prefix}loaner extend {} 1d or give it back with {prefix}loaner return {}",
                        r.machine.as_deref().unwrap_or("?"),
                        r.id,
                        format_instant(expires, tz),
                        format_duration(expires - ctx.now),
                        r.id,
                        r.id
                    ),
                ));
            }
            outcome
        }
        crate::Job::LoanerExpire { id } => match loaners.requests.get(id) {
            Some(r) if r.status == Status::Active && !r.expired && r.expires.is_some_and(|e| e <= ctx.now) => {
                let machine = r.machine.as_deref().unwrap_or("?");
                Outcome::reply(String::new())
                    .change(crate::Change::Loaner(Change::Expired { id: *id }))
                    .announce(dm(
                        &r.requester,
                        format!("your loan of {machine} (#{}) has expired; please give it back ({prefix}loaner return {})", r.id, r.id),
                    ))
                    .announce(Announcement::to(
                        AnnounceKind::Loaners,
                        format!(
                            "loan #{} of {machine} to {} expired at {}; CI duty: please reclaim it ({prefix}loaner return {} once it is back)",
                            r.id,
                            crate::mention::ping(&r.requester),
                            format_instant(r.expires.unwrap_or(ctx.now), tz),
                            r.id
                        ),
                    ))
            }
            _ => Outcome::default(),
        },
        crate::Job::LoanerOverdue { id } => match loaners.requests.get(id) {
            Some(r) if r.status == Status::Pending && !r.overdue && r.sla_due <= ctx.now => {
                Outcome::reply(String::new())
                    .change(crate::Change::Loaner(Change::Overdue { id: *id }))
                    .announce(Announcement::to(
                        AnnounceKind::Loaners,
                        format!(
                            "OVERDUE: loaner request #{} by {} ({}) has waited past its response time (due {}); CI duty: {prefix}loaner approve {} or {prefix}loaner deny {} REASON",
                            r.id,
                            r.requester,
                            r.pool,
                            format_instant(r.sla_due, tz),
                            r.id,
                            r.id
                        ),
                    ))
            }
            _ => Outcome::default(),
        },
        _ => Outcome::default(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::tests::{World, bob, guest, noon};
    use crate::{Caller, Command, Job};

    pub(crate) fn variants() -> Vec<(Command, Permit)> {
        let l = Command::Loaner;
        let id = || "1".to_string();
        vec![
            (
                l(Loaner::Request {
                    pool: "linux".into(),
                    words: vec!["x".into()],
                }),
                Permit::Identified,
            ),
            (l(Loaner::List { filter: None }), Permit::Anyone),
            (l(Loaner::Pools), Permit::Anyone),
            (
                l(Loaner::Approve {
                    id: id(),
                    machine: None,
                }),
                Permit::Role(Role::Ciduty),
            ),
            (
                l(Loaner::Deny {
                    id: id(),
                    reason: vec!["x".into()],
                }),
                Permit::Role(Role::Ciduty),
            ),
            (
                l(Loaner::Extend {
                    id: id(),
                    duration: "1d".into(),
                }),
                Permit::Identified,
            ),
            (l(Loaner::Return { id: id() }), Permit::Identified),
            (l(Loaner::Cancel { id: id() }), Permit::Identified),
        ]
    }

    fn carol() -> Caller {
        Caller::person(PersonId::new("carol"), [Role::Ciduty])
    }

    pub(crate) fn linux() -> Pool {
        Pool {
            name: "linux".into(),
            description: "big linux boxes".into(),
            machines: vec!["m1".into()],
            default_loan: Duration::days(3),
            max_loan: Duration::days(5),
            max_extensions: 1,
            quota: 1,
            sla: Duration::hours(8),
            calendar: Calendar {
                days: vec![
                    Weekday::Mon,
                    Weekday::Tue,
                    Weekday::Wed,
                    Weekday::Thu,
                    Weekday::Fri,
                ],
                start: NaiveTime::from_hms_opt(9, 0, 0).expect("time"),
                end: NaiveTime::from_hms_opt(17, 0, 0).expect("time"),
                timezone: Tz::UTC,
            },
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("instant")
    }

    #[test]
    fn sla_counts_only_working_hours() {
        let c = linux().calendar;
        // Sunday noon: Monday 09:00 + 8h.
        assert_eq!(
            c.add_working(noon(), Duration::hours(8)),
            at("2026-11-23T17:00:00Z")
        );
        // Friday 15:00: 2h on Friday, 6h on Monday.
        assert_eq!(
            c.add_working(at("2026-11-27T15:00:00Z"), Duration::hours(8)),
            at("2026-11-30T15:00:00Z")
        );
    }

    #[test]
    fn a_bare_length_first_is_the_length_not_the_reason() {
        let pool = linux();
        let words = |line: &str| -> Vec<String> { line.split(' ').map(String::from).collect() };
        for (line, length, reason) in [
            (
                "3d reproduce bug 456",
                Duration::days(3),
                "reproduce bug 456",
            ),
            (
                "for 3d reproduce bug 456",
                Duration::days(3),
                "reproduce bug 456",
            ),
            (
                "reproduce bug 456 for 3d",
                Duration::days(3),
                "reproduce bug 456",
            ),
            ("2 flaky tests", pool.default_loan, "2 flaky tests"),
            (
                "reproduce 3d rendering",
                pool.default_loan,
                "reproduce 3d rendering",
            ),
        ] {
            let got = length_and_reason(&words(line), &pool).expect(line);
            assert_eq!(got, (length, reason.to_string()), "{line}");
        }
        let err = length_and_reason(&words("3d"), &pool).expect_err("no reason");
        assert!(err.to_string().contains("needs a reason"), "{err}");
    }

    #[test]
    fn pools_count_free_lent_and_waitlisted_machines() {
        let mut w = World::empty();
        assert_eq!(
            w.try_line(&guest(), "loaner pools").expect("anyone").reply,
            "no loaner pools are configured"
        );
        let mut one = linux();
        one.name = "mac".into();
        one.machines = vec!["mac-01".into()];
        w.settings.pools = vec![linux(), one];
        w.now = at("2026-11-23T09:00:00Z");
        let dave = Caller::person(PersonId::new("dave"), []);
        w.ok(&bob(), "loaner request mac build");
        w.ok(&dave, "loaner request mac build");
        w.ok(&bob(), "loaner request linux build");
        w.ok(&carol(), "loaner approve 1");
        w.ok(&carol(), "loaner approve 2");
        let n = linux().machines.len();
        assert_eq!(
            w.try_line(&guest(), "loaner pools").expect("anyone").reply,
            format!(
                "linux: {n} free, 0 lent, 0 wait-listed, 1 pending (of {n})\nmac: 0 free, 1 lent, 1 wait-listed, 0 pending (of 1)"
            )
        );
    }

    #[test]
    fn request_approve_remind_expire_once() {
        let mut w = World::empty();
        w.settings.pools = vec![linux()];
        w.now = at("2026-11-23T09:00:00Z");
        let o = w.ok(&bob(), "loaner request linux for 2d repro bug 456");
        assert_eq!(
            o.reply,
            "request #1 queued for linux (2d); CI duty is notified"
        );
        let err = w
            .run(&bob(), "loaner request linux again")
            .expect_err("quota");
        assert!(err.to_string().contains("quota 1"), "{err}");
        w.ok(&carol(), "loaner approve 1");
        let r = &w.state.loaners.requests[&1];
        assert_eq!(
            (r.status, r.machine.as_deref()),
            (Status::Active, Some("m1"))
        );
        let timers = w.state.timers();
        assert_eq!(timers.len(), 3, "{timers:?}");
        w.now = at("2026-11-24T09:00:00Z");
        let o = w.job(&Job::LoanerRemind { id: 1, hours: 24 });
        assert_eq!(o.announce.len(), 1);
        assert!(
            w.job(&Job::LoanerRemind { id: 1, hours: 24 })
                .changes
                .is_empty(),
            "once"
        );
        w.now = at("2026-11-25T09:00:00Z");
        let o = w.job(&Job::LoanerExpire { id: 1 });
        assert_eq!(o.announce.len(), 2);
        assert!(
            w.job(&Job::LoanerExpire { id: 1 }).changes.is_empty(),
            "once"
        );
        // The 1h reminder was passed while "down": recorded, not sent.
        let o = w.job(&Job::LoanerRemind { id: 1, hours: 1 });
        assert!(o.announce.is_empty() && !o.changes.is_empty());
        assert!(w.state.timers().is_empty());
    }
}
