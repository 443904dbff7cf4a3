//! Shifts and duty: rotations from config (members in order, a shift
//! length, an anchor instant, a time zone, the roles the shift grants),
//! overrides and swaps from chat, and who is therefore on shift at any
//! instant. Permission checks ask this module for the duty roles of the
//! caller *now*, so whoever holds the CI-duty shift can approve loaners and
//! loses that the moment the shift hands over.
//!
//! Shifts measured in days or weeks start at the same local wall-clock time
//! across DST changes (a 09:00 handoff stays at 09:00); hour-long shifts are
//! exact durations; a cron schedule gives handoffs that are not evenly
//! spaced (Monday and Thursday mornings), also in local time.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use clap::Subcommand;
use serde::{Deserialize, Serialize};

use crate::event::Event;
use crate::id::{ChannelAddr, PersonId};
use crate::role::{Caller, Permit, Role};
use crate::when::{format_duration, format_instant, parse_until};
use crate::{Announcement, Audience, Context, Error, Outcome, Settings, State};

/// The person name that marks a gap: `oncall override ci nobody …`.
pub const NOBODY: &str = "nobody";

/// How far ahead a gap in a rotation is warned about.
pub const GAP_WARNING: Duration = Duration::hours(24);

/// Who is on shift, and changes to that.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
#[command(
    after_help = "examples:\n  !oncall\n  !oncall next ciduty 4\n  !oncall override ciduty bob 2026-11-23 2026-11-24\n  !oncall swap request ciduty 2026-11-30 family event\n  !oncall swap take 7"
)]
pub enum Oncall {
    /// Who is on shift now, in every rotation or in one.
    Who { rotation: Option<String> },
    /// The next shifts of a rotation (or of every rotation).
    Next {
        rotation: Option<String>,
        /// How many shifts (default 3).
        #[arg(default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=20))]
        count: u8,
    },
    /// Put PERSON (or `nobody`) on shift from FROM until UNTIL (YYYY-MM-DD[THH:MM] or HH:MM).
    Override {
        rotation: String,
        person: String,
        from: String,
        until: String,
    },
    /// Ask for someone to take your shift on DATE, or take a requested one.
    #[command(subcommand)]
    Swap(Swap),
    /// Post the handoff digest of a rotation (or of every rotation) now.
    Handoff { rotation: Option<String> },
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Swap {
    /// Offer your shift that covers DATE (YYYY-MM-DD) to the other members.
    Request {
        rotation: String,
        date: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        reason: Vec<String>,
    },
    /// Take a requested swap: you cover that shift instead.
    Take { id: u64 },
}

impl Oncall {
    pub fn permit(&self) -> Permit {
        match self {
            Oncall::Who { .. } | Oncall::Next { .. } | Oncall::Handoff { .. } => Permit::Anyone,
            // Admin or a member of the rotation: checked in the handler.
            Oncall::Override { .. } | Oncall::Swap(_) => Permit::Identified,
        }
    }

    pub fn verb(&self) -> &'static str {
        match self {
            Oncall::Who { .. } => "who",
            Oncall::Next { .. } => "next",
            Oncall::Override { .. } => "override",
            Oncall::Swap(Swap::Request { .. }) => "swap request",
            Oncall::Swap(Swap::Take { .. }) => "swap take",
            Oncall::Handoff { .. } => "handoff",
        }
    }
}

/// Where shifts begin and end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShiftPattern {
    /// Exact durations from the anchor.
    Hours(u32),
    /// Whole days: each shift starts at the anchor's local time.
    Days(u32),
    /// A shift starts at every firing of the schedule (in the rotation's
    /// zone); shift 0 is the one starting at the first firing at or after
    /// the anchor. For handoffs that are not evenly spaced, e.g. Monday and
    /// Thursday mornings.
    Cron(Box<cron::Schedule>),
}

/// At most this many cron firings are walked to find a shift, which covers
/// an hourly cron for over eleven years either side of the anchor.
const CRON_WALK: usize = 100_000;

/// A rotation as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    pub name: String,
    pub members: Vec<PersonId>,
    pub pattern: ShiftPattern,
    /// The local start of shift 0 (held by the first member).
    pub anchor: NaiveDateTime,
    pub timezone: Tz,
    pub channels: Vec<ChannelAddr>,
    pub grants: Vec<Role>,
    pub emails: BTreeMap<PersonId, String>,
}

impl Rotation {
    fn local(&self, naive: NaiveDateTime) -> DateTime<Utc> {
        let tz = self.timezone;
        tz.from_local_datetime(&naive)
            .earliest()
            .or_else(|| {
                tz.from_local_datetime(&(naive + Duration::hours(1)))
                    .earliest()
            })
            .map_or_else(|| Utc.from_utc_datetime(&naive), |t| t.with_timezone(&Utc))
    }

    /// When shift `k` starts.
    pub fn start(&self, k: i64) -> DateTime<Utc> {
        match &self.pattern {
            ShiftPattern::Hours(h) => self.local(self.anchor) + Duration::hours(i64::from(*h) * k),
            ShiftPattern::Days(d) => self.local(self.anchor + Duration::days(i64::from(*d) * k)),
            ShiftPattern::Cron(schedule) => self.cron_start(schedule, k),
        }
    }

    /// The shift that covers `t`.
    pub fn index_at(&self, t: DateTime<Utc>) -> i64 {
        let nominal = match &self.pattern {
            ShiftPattern::Hours(h) => i64::from(*h) * 3600,
            ShiftPattern::Days(d) => i64::from(*d) * 86_400,
            ShiftPattern::Cron(schedule) => return self.cron_index_at(schedule, t),
        };
        let mut k = (t - self.local(self.anchor))
            .num_seconds()
            .div_euclid(nominal);
        for _ in 0..4 {
            if self.start(k) > t {
                k -= 1;
            } else if self.start(k + 1) <= t {
                k += 1;
            } else {
                break;
            }
        }
        k
    }

    /// Firings from `from` on, forwards or backwards, with the twice-seen
    /// hour of a DST fall-back counted once.
    fn firings<'a>(
        &self,
        schedule: &'a cron::Schedule,
        from: DateTime<Utc>,
        forwards: bool,
    ) -> impl Iterator<Item = DateTime<Utc>> + 'a {
        let it = schedule.after(&from.with_timezone(&self.timezone));
        let it: Box<dyn Iterator<Item = DateTime<Tz>> + 'a> = if forwards {
            Box::new(it)
        } else {
            Box::new(it.rev())
        };
        let mut last_local = None;
        it.take(CRON_WALK).filter_map(move |t| {
            let local = t.naive_local();
            (last_local.replace(local) != Some(local)).then(|| t.with_timezone(&Utc))
        })
    }

    /// The start of shift 0: the first firing at or after the anchor.
    fn cron_origin(&self, schedule: &cron::Schedule) -> DateTime<Utc> {
        let anchor = self.local(self.anchor);
        self.firings(schedule, anchor - Duration::seconds(1), true)
            .next()
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    fn cron_start(&self, schedule: &cron::Schedule, k: i64) -> DateTime<Utc> {
        let origin = self.cron_origin(schedule);
        let found = if k >= 0 {
            let n = usize::try_from(k).unwrap_or(usize::MAX);
            self.firings(schedule, origin - Duration::seconds(1), true)
                .nth(n)
        } else {
            let n = usize::try_from(-k - 1).unwrap_or(usize::MAX);
            self.firings(schedule, origin, false).nth(n)
        };
        found.unwrap_or(if k >= 0 {
            DateTime::<Utc>::MAX_UTC
        } else {
            DateTime::<Utc>::MIN_UTC
        })
    }

    fn cron_index_at(&self, schedule: &cron::Schedule, t: DateTime<Utc>) -> i64 {
        let origin = self.cron_origin(schedule);
        if t >= origin {
            let later = self
                .firings(schedule, origin, true)
                .take_while(|f| *f <= t)
                .count();
            i64::try_from(later).unwrap_or(i64::MAX)
        } else {
            let between = self
                .firings(schedule, origin, false)
                .take_while(|f| *f > t)
                .count();
            -i64::try_from(between).unwrap_or(i64::MAX) - 1
        }
    }

    /// Who holds shift `k` by the rotation alone.
    pub fn member(&self, k: i64) -> Option<&PersonId> {
        let n = i64::try_from(self.members.len()).ok().filter(|n| *n > 0)?;
        self.members.get(usize::try_from(k.rem_euclid(n)).ok()?)
    }
}

/// A time range in which someone else (or nobody) is on shift.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Override {
    pub id: u64,
    pub rotation: String,
    /// `None`: nobody (a gap).
    pub person: Option<PersonId>,
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub by: String,
}

/// A shift offered by `original`; once taken, `taker` covers it — as long
/// as the rotation still gives that shift to `original`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwapEntry {
    pub id: u64,
    pub rotation: String,
    pub original: PersonId,
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub reason: String,
    pub taker: Option<PersonId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    Override(Override),
    SwapRequested(SwapEntry),
    SwapTaken {
        id: u64,
        taker: PersonId,
    },
    /// The handoff for a change of shift was posted: `person` is now on.
    HandedOff {
        rotation: String,
        person: Option<PersonId>,
        at: DateTime<Utc>,
    },
    /// A coming gap was warned about.
    GapWarned {
        rotation: String,
        from: DateTime<Utc>,
    },
    /// A digest was posted on request (recorded so it is delivered durably
    /// and appears in the audit log).
    DigestPosted {
        rotation: String,
    },
}

/// The duty family's state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Duty {
    pub overrides: Vec<Override>,
    pub swaps: Vec<SwapEntry>,
    /// Per rotation: who the last handoff named, and when.
    pub handed_off: BTreeMap<String, (Option<PersonId>, DateTime<Utc>)>,
    /// Per rotation: the start of the last gap warned about.
    pub gap_warned: BTreeMap<String, DateTime<Utc>>,
    pub next_id: u64,
}

impl Duty {
    pub fn apply(&mut self, _event: &Event, change: &Change) {
        match change {
            Change::Override(o) => {
                self.next_id = self.next_id.max(o.id);
                self.overrides.push(o.clone());
            }
            Change::SwapRequested(s) => {
                self.next_id = self.next_id.max(s.id);
                self.swaps.push(s.clone());
            }
            Change::SwapTaken { id, taker } => {
                if let Some(s) = self.swaps.iter_mut().find(|s| s.id == *id) {
                    s.taker = Some(taker.clone());
                }
            }
            Change::HandedOff {
                rotation,
                person,
                at,
            } => {
                self.handed_off
                    .insert(rotation.clone(), (person.clone(), *at));
            }
            Change::GapWarned { rotation, from } => {
                self.gap_warned.insert(rotation.clone(), *from);
            }
            Change::DigestPosted { .. } => {}
        }
    }
}

/// Who is on shift in `rotation` at `t` (`None`: nobody).
pub fn on_shift(rotation: &Rotation, duty: &Duty, t: DateTime<Utc>) -> Option<PersonId> {
    if let Some(o) = duty
        .overrides
        .iter()
        .rev()
        .find(|o| o.rotation == rotation.name && o.from <= t && t < o.until)
    {
        return o.person.clone();
    }
    let base = rotation.member(rotation.index_at(t))?.clone();
    let swapped = duty.swaps.iter().rev().find(|s| {
        s.rotation == rotation.name
            && s.original == base
            && s.from <= t
            && t < s.until
            && s.taker.is_some()
    });
    Some(swapped.and_then(|s| s.taker.clone()).unwrap_or(base))
}

/// The roles `person` holds by being on shift now.
pub fn duty_roles(
    settings: &Settings,
    duty: &Duty,
    person: &PersonId,
    now: DateTime<Utc>,
) -> Vec<Role> {
    let mut roles = Vec::new();
    for rotation in &settings.rotations {
        if on_shift(rotation, duty, now).as_ref() == Some(person) {
            roles.push(Role::Duty);
            roles.extend(rotation.grants.iter().copied());
        }
    }
    roles.sort();
    roles.dedup();
    roles
}

/// `caller` with the roles their shifts grant now.
pub fn with_duty(caller: &Caller, settings: &Settings, duty: &Duty, now: DateTime<Utc>) -> Caller {
    let mut caller = caller.clone();
    if let Some(person) = &caller.person {
        caller.roles.extend(duty_roles(settings, duty, person, now));
    }
    caller
}

/// The next instant after `t` at which who is on shift may change.
/// The latest instant at or before `t` at which who is on shift may have changed.
pub fn last_change(rotation: &Rotation, duty: &Duty, t: DateTime<Utc>) -> DateTime<Utc> {
    let boundary = rotation.start(rotation.index_at(t));
    let edges = duty
        .overrides
        .iter()
        .filter(|o| o.rotation == rotation.name)
        .flat_map(|o| [o.from, o.until])
        .chain(
            duty.swaps
                .iter()
                .filter(|s| s.rotation == rotation.name && s.taker.is_some())
                .flat_map(|s| [s.from, s.until]),
        );
    edges.filter(|e| *e <= t).fold(boundary, DateTime::max)
}

pub fn next_change(rotation: &Rotation, duty: &Duty, t: DateTime<Utc>) -> DateTime<Utc> {
    let boundary = rotation.start(rotation.index_at(t) + 1);
    let edges = duty
        .overrides
        .iter()
        .filter(|o| o.rotation == rotation.name)
        .flat_map(|o| [o.from, o.until])
        .chain(
            duty.swaps
                .iter()
                .filter(|s| s.rotation == rotation.name && s.taker.is_some())
                .flat_map(|s| [s.from, s.until]),
        );
    edges.filter(|e| *e > t).fold(boundary, DateTime::min)
}

fn rotation<'a>(settings: &'a Settings, name: &str) -> Result<&'a Rotation, Error> {
    settings
        .rotations
        .iter()
        .find(|r| r.name == name)
        .ok_or_else(|| {
            let names: Vec<&str> = settings.rotations.iter().map(|r| r.name.as_str()).collect();
            let known = if names.is_empty() {
                "none are configured".to_string()
            } else {
                format!("rotations are: {}", names.join(", "))
            };
            Error::not_found(format!("rotation \"{name}\" is unknown; {known}"))
        })
}

fn rotations<'a>(settings: &'a Settings, name: Option<&str>) -> Result<Vec<&'a Rotation>, Error> {
    match name {
        Some(name) => Ok(vec![rotation(settings, name)?]),
        None if settings.rotations.is_empty() => {
            Err(Error::not_found("no rotations are configured"))
        }
        None => Ok(settings.rotations.iter().collect()),
    }
}

/// `lines` and, when the bot has a `public_url`, the link of the shifts'
/// calendar feed (of one rotation, or of all).
fn with_feed(mut lines: Vec<String>, settings: &Settings, rotation: Option<&str>) -> Vec<String> {
    if let Some(url) = &settings.public_url {
        let url = url.trim_end_matches('/');
        lines.push(match rotation {
            Some(r) => format!("calendar: {url}/calendar/oncall/{r}.ics"),
            None => format!("calendar: {url}/calendar/oncall.ics"),
        });
    }
    lines
}

fn name_of(person: &Option<PersonId>) -> String {
    person
        .as_ref()
        .map_or_else(|| NOBODY.to_string(), |p| p.to_string())
}

/// Parses an instant: `YYYY-MM-DD` (midnight), `YYYY-MM-DD HH:MM`,
/// `YYYY-MM-DDTHH:MM` or `HH:MM`, in the rotation's zone; past instants too.
fn instant(text: &str, rotation: &Rotation, now: DateTime<Utc>) -> Result<DateTime<Utc>, Error> {
    let text = text.replace('T', " ");
    let formats = ["%Y-%m-%d %H:%M", "%Y-%m-%d"];
    for format in formats {
        let parsed = if format == "%Y-%m-%d" {
            chrono::NaiveDate::parse_from_str(&text, format)
                .map(|d| d.and_time(chrono::NaiveTime::MIN))
        } else {
            NaiveDateTime::parse_from_str(&text, format)
        };
        if let Ok(naive) = parsed {
            return Ok(rotation.local(naive));
        }
    }
    parse_until(&text, now, rotation.timezone).map_err(|_| {
        Error::invalid(format!(
            "time \"{text}\" is malformed; use YYYY-MM-DD, YYYY-MM-DD HH:MM or HH:MM"
        ))
    })
}

fn member_or_admin(ctx: &Context, rotation: &Rotation, action: &str) -> Result<(), Error> {
    let is_member = ctx
        .caller
        .person
        .as_ref()
        .is_some_and(|p| rotation.members.contains(p));
    if is_member || ctx.caller.has(Role::Admin) {
        return Ok(());
    }
    Err(Error::Permission {
        action: action.to_string(),
        need: crate::error::Need::Role(vec![Role::Admin]),
        who: format!(
            "{} is not a member of rotation {}",
            ctx.caller.name(),
            rotation.name
        ),
    })
}

pub fn handle(cmd: &Oncall, ctx: &Context, state: &State) -> Result<Outcome, Error> {
    let duty = &state.duty;
    let tz = ctx.settings.timezone;
    match cmd {
        Oncall::Who { rotation } => {
            let lines: Vec<String> = rotations(ctx.settings, rotation.as_deref())?
                .into_iter()
                .map(|r| {
                    let until = next_change(r, duty, ctx.now);
                    format!(
                        "{}: {} until {}",
                        r.name,
                        name_of(&on_shift(r, duty, ctx.now)),
                        format_instant(until, tz)
                    )
                })
                .collect();
            let lines = with_feed(lines, ctx.settings, rotation.as_deref());
            Ok(Outcome::reply(lines.join("\n")))
        }
        Oncall::Next { rotation, count } => {
            let mut lines = Vec::new();
            for r in rotations(ctx.settings, rotation.as_deref())? {
                let mut t = ctx.now;
                for _ in 0..*count {
                    t = next_change(r, duty, t);
                    lines.push(format!(
                        "{}: {} from {}",
                        r.name,
                        name_of(&on_shift(r, duty, t)),
                        format_instant(t, tz)
                    ));
                }
            }
            let lines = with_feed(lines, ctx.settings, rotation.as_deref());
            Ok(Outcome::reply(lines.join("\n")))
        }
        Oncall::Override {
            rotation: name,
            person,
            from,
            until,
        } => {
            let r = rotation(ctx.settings, name)?;
            member_or_admin(ctx, r, "oncall override")?;
            let person = if person == NOBODY {
                None
            } else {
                let p = PersonId::new(person.as_str());
                if !ctx.settings.people.contains(&p) {
                    return Err(Error::not_found(format!("person \"{person}\" is unknown")));
                }
                Some(p)
            };
            let (from_t, until_t) = (instant(from, r, ctx.now)?, instant(until, r, ctx.now)?);
            if until_t <= from_t {
                return Err(Error::invalid(format!(
                    "\"{until}\" is not after \"{from}\""
                )));
            }
            if until_t <= ctx.now {
                return Err(Error::invalid(format!(
                    "the override ends in the past (\"{until}\")"
                )));
            }
            if let Some(o) = duty
                .overrides
                .iter()
                .find(|o| o.rotation == r.name && o.from < until_t && from_t < o.until)
            {
                return Err(Error::conflict(format!(
                    "overlaps override {} ({} from {} until {}); nothing changed",
                    o.id,
                    name_of(&o.person),
                    format_instant(o.from, tz),
                    format_instant(o.until, tz)
                )));
            }
            let o = Override {
                id: duty.next_id + 1,
                rotation: r.name.clone(),
                person: person.clone(),
                from: from_t,
                until: until_t,
                by: ctx.caller.name().to_string(),
            };
            let text = format!(
                "{} is on {} shift from {} until {} (override {})",
                name_of(&person),
                r.name,
                format_instant(from_t, tz),
                format_instant(until_t, tz),
                o.id
            );
            Ok(Outcome::reply(text.clone()).change(crate::Change::Duty(Change::Override(o))))
        }
        Oncall::Swap(Swap::Request {
            rotation: name,
            date,
            reason,
        }) => {
            let r = rotation(ctx.settings, name)?;
            let me = ctx
                .caller
                .person
                .clone()
                .ok_or_else(|| Error::invalid("only identified people hold shifts"))?;
            member_or_admin(ctx, r, "oncall swap request")?;
            // A bare date means that day's (day) shift: look at its noon.
            let at = match chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d") {
                Ok(day) => r.local(day.and_time(
                    chrono::NaiveTime::from_hms_opt(12, 0, 0).expect("noon is a valid time"),
                )),
                Err(_) => instant(date, r, ctx.now)?,
            };
            let k = r.index_at(at);
            if r.member(k) != Some(&me) {
                return Err(Error::invalid(format!(
                    "{me} is not on {} shift on \"{date}\" ({} is); nothing to swap",
                    r.name,
                    r.member(k).map_or(NOBODY, |p| p.as_str())
                )));
            }
            let (from, until) = (r.start(k), r.start(k + 1));
            if until <= ctx.now {
                return Err(Error::invalid(format!("the shift on \"{date}\" is over")));
            }
            let s = SwapEntry {
                id: duty.next_id + 1,
                rotation: r.name.clone(),
                original: me.clone(),
                from,
                until,
                reason: reason.join(" "),
                taker: None,
            };
            let text = format!(
                "{me} asks for someone to take their {} shift {} – {}{} (take it with {}oncall swap take {})",
                r.name,
                format_instant(from, tz),
                format_instant(until, tz),
                if s.reason.is_empty() {
                    String::new()
                } else {
                    format!(": {}", s.reason)
                },
                ctx.settings.prefix,
                s.id
            );
            let mut outcome =
                Outcome::reply(text.clone()).change(crate::Change::Duty(Change::SwapRequested(s)));
            for channel in &r.channels {
                outcome = outcome.announce(Announcement {
                    to: Audience::Channel(channel.clone()),
                    text: text.clone(),
                });
            }
            Ok(outcome)
        }
        Oncall::Swap(Swap::Take { id }) => {
            let s = duty
                .swaps
                .iter()
                .find(|s| s.id == *id)
                .ok_or_else(|| Error::not_found(format!("swap \"{id}\" is unknown")))?;
            let r = rotation(ctx.settings, &s.rotation)?;
            let me = ctx
                .caller
                .person
                .clone()
                .ok_or_else(|| Error::invalid("only identified people take shifts"))?;
            if !r.members.contains(&me) {
                return Err(Error::Permission {
                    action: "oncall swap take".into(),
                    need: crate::error::Need::Identified,
                    who: format!("{me} is not a member of rotation {}", r.name),
                });
            }
            if let Some(taker) = &s.taker {
                return Err(Error::conflict(format!(
                    "swap {id} was already taken by {taker}"
                )));
            }
            if me == s.original {
                return Err(Error::invalid(format!("swap {id} is your own shift")));
            }
            if s.until <= ctx.now {
                return Err(Error::invalid(format!("the shift of swap {id} is over")));
            }
            let text = format!(
                "{me} takes {}'s {} shift {} – {}",
                s.original,
                r.name,
                format_instant(s.from, tz),
                format_instant(s.until, tz)
            );
            let mut outcome = Outcome::reply(text.clone())
                .change(crate::Change::Duty(Change::SwapTaken {
                    id: *id,
                    taker: me,
                }))
                .announce(Announcement {
                    to: Audience::Person(s.original.clone()),
                    text: text.clone(),
                });
            for channel in &r.channels {
                outcome = outcome.announce(Announcement {
                    to: Audience::Channel(channel.clone()),
                    text: text.clone(),
                });
            }
            Ok(outcome)
        }
        Oncall::Handoff { rotation: name } => {
            let mut outcome = Outcome::default();
            let mut replies = Vec::new();
            for r in rotations(ctx.settings, name.as_deref())? {
                let person = on_shift(r, duty, ctx.now);
                let digest = digest(ctx, state, r, None, person.clone());
                replies.push(digest.clone());
                outcome = outcome.change(crate::Change::Duty(Change::DigestPosted {
                    rotation: r.name.clone(),
                }));
                for channel in &r.channels {
                    outcome = outcome.announce(Announcement {
                        to: Audience::Channel(channel.clone()),
                        text: digest.clone(),
                    });
                }
            }
            outcome.reply = replies.join("\n\n");
            Ok(outcome)
        }
    }
}

/// The handoff digest: who hands over to whom, and what is still open.
pub fn digest(
    ctx: &Context,
    state: &State,
    rotation: &Rotation,
    from: Option<PersonId>,
    to: Option<PersonId>,
) -> String {
    let tz = ctx.settings.timezone;
    let shift_end = next_change(rotation, &state.duty, ctx.now);
    let items = crate::open_items(ctx, state, shift_end);
    let head = match (&from, &to) {
        (Some(f), t) if Some(f) != t.as_ref() => {
            format!("{} handoff: {f} → {}", rotation.name, name_of(&to))
        }
        _ => format!("{} handoff: {} is on shift", rotation.name, name_of(&to)),
    };
    let head = format!("{head} until {}", format_instant(shift_end, tz));
    if items.is_empty() {
        format!("{head}. nothing is open.")
    } else {
        format!("{head}. open:\n- {}", items.join("\n- "))
    }
}

/// The scheduled handoff of `rotation`, if who is on shift changed since the
/// last one; also warns of a gap starting within [`GAP_WARNING`].
pub fn run_handoff(ctx: &Context, state: &State, name: &str) -> Outcome {
    let Ok(r) = rotation(ctx.settings, name) else {
        return Outcome::default();
    };
    let duty = &state.duty;
    let now_on = on_shift(r, duty, ctx.now);
    let mut outcome = Outcome::default();
    match duty.handed_off.get(&r.name) {
        // First sight: remember who is on, say nothing.
        None => {
            outcome = outcome.change(crate::Change::Duty(Change::HandedOff {
                rotation: r.name.clone(),
                person: now_on,
                at: ctx.now,
            }));
        }
        Some((before, _)) if *before != now_on => {
            // Outgoing is whoever held the period just before this change,
            // even if the bot was down across several changes.
            let outgoing = on_shift(
                r,
                duty,
                last_change(r, duty, ctx.now) - Duration::seconds(1),
            );
            let text = digest(ctx, state, r, outgoing.clone(), now_on.clone());
            for channel in &r.channels {
                outcome = outcome.announce(Announcement {
                    to: Audience::Channel(channel.clone()),
                    text: text.clone(),
                });
            }
            for person in [&outgoing, &now_on].into_iter().flatten() {
                outcome = outcome.announce(Announcement {
                    to: Audience::Person(person.clone()),
                    text: text.clone(),
                });
            }
            outcome = outcome.change(crate::Change::Duty(Change::HandedOff {
                rotation: r.name.clone(),
                person: now_on,
                at: ctx.now,
            }));
        }
        Some(_) => {}
    }
    // A gap ahead: the next change leads to nobody.
    let next = next_change(r, duty, ctx.now);
    if next - ctx.now <= GAP_WARNING
        && on_shift(r, duty, next).is_none()
        && duty.gap_warned.get(&r.name) != Some(&next)
    {
        let text = format!(
            "{}: nobody is on shift from {} (in {}); add an override: {}oncall override {} PERSON FROM UNTIL",
            r.name,
            format_instant(next, ctx.settings.timezone),
            format_duration(next - ctx.now),
            ctx.settings.prefix,
            r.name
        );
        for channel in &r.channels {
            outcome = outcome.announce(Announcement {
                to: Audience::Channel(channel.clone()),
                text: text.clone(),
            });
        }
        outcome = outcome.change(crate::Change::Duty(Change::GapWarned {
            rotation: r.name.clone(),
            from: next,
        }));
    }
    outcome
}

/// When the scheduler should next look at `rotation`.
pub fn next_wake(settings: &Settings, state: &State, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    settings
        .rotations
        .iter()
        .flat_map(|r| {
            let next = next_change(r, &state.duty, now);
            [next, next - GAP_WARNING]
        })
        .filter(|t| *t > now)
        .min()
}

/// Rotations whose handoff (or gap warning) is due now.
pub fn due(settings: &Settings, state: &State, now: DateTime<Utc>) -> Vec<String> {
    settings
        .rotations
        .iter()
        .filter(|r| {
            let on = on_shift(r, &state.duty, now);
            let changed = state
                .duty
                .handed_off
                .get(&r.name)
                .is_none_or(|(p, _)| *p != on);
            let next = next_change(r, &state.duty, now);
            let gap = next - now <= GAP_WARNING
                && on_shift(r, &state.duty, next).is_none()
                && state.duty.gap_warned.get(&r.name) != Some(&next);
            changed || gap
        })
        .map(|r| r.name.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn cron_rotation(expr: &str, anchor: &str) -> Rotation {
        Rotation {
            name: "r".into(),
            members: vec![PersonId::new("a"), PersonId::new("b"), PersonId::new("c")],
            pattern: ShiftPattern::Cron(Box::new(
                cron::Schedule::from_str(expr).expect("test cron"),
            )),
            anchor: NaiveDateTime::parse_from_str(anchor, "%Y-%m-%d %H:%M").expect("anchor"),
            timezone: chrono_tz::Europe::Berlin,
            channels: vec![],
            grants: vec![],
            emails: BTreeMap::new(),
        }
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().expect("test instant")
    }

    #[test]
    fn who_and_next_end_with_the_feed_when_the_bot_has_a_public_url() {
        let mut w = crate::tests::World::empty();
        w.settings.rotations = vec![cron_rotation("0 0 9 * * Mon", "2026-10-19 09:00")];
        w.now = utc("2026-11-23T12:00:00Z");
        let bob = crate::tests::bob();
        let plain = w.ok(&bob, "oncall who r").reply;
        assert!(!plain.contains("calendar:"), "{plain}");
        w.settings.public_url = Some("https://bot.example.org".into());
        let who = w.ok(&bob, "oncall who r").reply;
        assert!(
            who.ends_with("\ncalendar: https://bot.example.org/calendar/oncall/r.ics"),
            "{who}"
        );
        let next = w.ok(&bob, "oncall next").reply;
        assert!(
            next.ends_with("\ncalendar: https://bot.example.org/calendar/oncall.ics"),
            "{next}"
        );
    }

    #[test]
    fn cron_shifts_start_at_each_firing_on_both_sides_of_the_anchor() {
        // Anchor on a Wednesday: shift 0 starts at the next firing, Thursday.
        let r = cron_rotation("0 0 9 * * Mon,Thu", "2026-10-21 12:00");
        assert_eq!(r.start(0), utc("2026-10-22T07:00:00Z"));
        assert_eq!(r.start(1), utc("2026-10-26T08:00:00Z")); // after DST ends
        assert_eq!(r.start(-1), utc("2026-10-19T07:00:00Z"));
        assert_eq!(r.start(-2), utc("2026-10-15T07:00:00Z"));
        for k in -6..6 {
            let s = r.start(k);
            assert_eq!(r.index_at(s), k, "start of shift {k}");
            assert_eq!(r.index_at(s - Duration::seconds(1)), k - 1);
            assert_eq!(r.index_at(s + Duration::hours(30)), k);
        }
        assert_eq!(
            r.member(r.index_at(utc("2026-10-23T00:00:00Z"))),
            Some(&PersonId::new("a"))
        );
        assert_eq!(
            r.member(r.index_at(utc("2026-10-20T00:00:00Z"))),
            Some(&PersonId::new("c"))
        );
    }

    #[test]
    fn a_firing_in_the_repeated_hour_counts_once() {
        // 02:30 happens twice in Berlin on 2026-10-25.
        let r = cron_rotation("0 30 2 * * *", "2026-10-23 00:00");
        assert_eq!(r.start(0), utc("2026-10-23T00:30:00Z"));
        assert_eq!(r.start(1), utc("2026-10-24T00:30:00Z"));
        assert_eq!(r.start(2), utc("2026-10-25T00:30:00Z"));
        assert_eq!(r.start(3), utc("2026-10-26T01:30:00Z"));
        assert_eq!(r.index_at(utc("2026-10-25T01:45:00Z")), 2);
    }
}
