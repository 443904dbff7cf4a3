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
use crate::{AnnounceKind, Announcement, Audience, Context, Error, Outcome, Settings, State};

/// The person name that marks a gap: `oncall override ci nobody …`.
pub const NOBODY: &str = "nobody";

/// How far ahead a gap in a rotation is warned about.
pub const GAP_WARNING: Duration = Duration::hours(24);

/// Who is on shift, and changes to that.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
#[command(
    after_help = "examples:\n  !oncall\n  !oncall next ciduty 4\n  !oncall override ciduty bob 2026-11-23 2026-11-24\n  !oncall override list\n  !oncall override cancel 3\n  !oncall swap request ciduty 2026-11-30 family event\n  !oncall swap list\n  !oncall swap take 7\n  !oncall ics"
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
    /// Put someone (or nobody) on shift for a while; list or cancel overrides.
    #[command(subcommand)]
    Override(OverrideCmd),
    /// Ask for someone to take your shift on DATE, or take a requested one.
    #[command(subcommand)]
    Swap(Swap),
    /// Post the handoff digest of a rotation (or of every rotation) now.
    Handoff { rotation: Option<String> },
    /// The link of your own calendar feed (your shifts and windows).
    ///
    /// When the feeds need a calendar token, the whole link (token included)
    /// is given only in a direct message, never in a channel.
    Ics,
}

/// `oncall override ROTATION PERSON FROM UNTIL` is `oncall override set …`:
/// the parser adds `set` when the word after `override` is not a verb.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
#[command(
    after_help = "examples:\n  !oncall override ciduty bob 2026-11-23 2026-11-24\n  !oncall override list ciduty\n  !oncall override cancel 3"
)]
pub enum OverrideCmd {
    /// Put PERSON (or `nobody`) on shift from FROM until UNTIL (YYYY-MM-DD[THH:MM] or HH:MM).
    Set {
        rotation: String,
        /// A person (or `nobody`): config name or a mention (<@id>, @user:server, a logged-in IRC nick).
        person: String,
        from: String,
        until: String,
    },
    /// Overrides running now or still to come, in every rotation or in one.
    List { rotation: Option<String> },
    /// Cancel override ID: one still to come goes, a running one ends now.
    Cancel { id: u64 },
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
    /// Swaps whose shift is not over yet (open and taken), in every rotation or in one.
    List { rotation: Option<String> },
    /// Withdraw your swap request ID while nobody has taken it.
    Cancel { id: u64 },
}

impl Oncall {
    pub fn permit(&self) -> Permit {
        match self {
            Oncall::Who { .. }
            | Oncall::Next { .. }
            | Oncall::Handoff { .. }
            | Oncall::Override(OverrideCmd::List { .. })
            | Oncall::Swap(Swap::List { .. }) => Permit::Anyone,
            // Admin or a member of the rotation (or who asked, for a swap
            // cancel): checked in the handler.
            Oncall::Ics
            | Oncall::Override(OverrideCmd::Set { .. } | OverrideCmd::Cancel { .. })
            | Oncall::Swap(Swap::Request { .. } | Swap::Take { .. } | Swap::Cancel { .. }) => {
                Permit::Identified
            }
        }
    }

    pub fn verb(&self) -> &'static str {
        match self {
            Oncall::Who { .. } => "who",
            Oncall::Next { .. } => "next",
            Oncall::Override(OverrideCmd::Set { .. }) => "override set",
            Oncall::Override(OverrideCmd::List { .. }) => "override list",
            Oncall::Override(OverrideCmd::Cancel { .. }) => "override cancel",
            Oncall::Swap(Swap::Request { .. }) => "swap request",
            Oncall::Swap(Swap::Take { .. }) => "swap take",
            Oncall::Swap(Swap::List { .. }) => "swap list",
            Oncall::Swap(Swap::Cancel { .. }) => "swap cancel",
            Oncall::Handoff { .. } => "handoff",
            Oncall::Ics => "ics",
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
    /// An override was cancelled: one not started yet is gone, a running
    /// one ends at the event's instant (who was on before stays true).
    OverrideCancelled {
        id: u64,
    },
    /// A swap request nobody took was withdrawn.
    SwapCancelled {
        id: u64,
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
    pub fn apply(&mut self, event: &Event, change: &Change) {
        match change {
            Change::OverrideCancelled { id } => {
                if let Some(o) = self.overrides.iter_mut().find(|o| o.id == *id) {
                    o.until = o.until.min(event.at);
                }
                self.overrides.retain(|o| o.from < o.until);
            }
            Change::SwapCancelled { id } => self.swaps.retain(|s| s.id != *id),
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

/// A ping for the person, or "nobody".
fn ping_of(person: &Option<PersonId>) -> String {
    person
        .as_ref()
        .map_or_else(|| NOBODY.to_string(), crate::mention::ping)
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

/// `oncall ics`: the caller's own feed. With a calendar token the link is
/// only whole where nobody else reads it (a direct message, the API): said
/// in a channel, the reply names the feed without the token and says where
/// to ask. Sending it by direct message instead would need a logged event
/// (announcements ride on changes), and the token would then sit in the
/// event log and every export.
fn own_feed(ctx: &Context) -> Result<Outcome, Error> {
    let Some(person) = &ctx.caller.person else {
        return Err(Error::Permission {
            action: "oncall ics".into(),
            need: crate::error::Need::Identified,
            who: format!("{} is not a known person", ctx.caller.name()),
        });
    };
    let Some(base) = &ctx.settings.public_url else {
        return Err(Error::conflict(
            "calendar links need the bot's [http] public_url, which is not set; ask an admin",
        ));
    };
    let feed = crate::calendar::link(base, &format!("/calendar/person/{person}.ics"));
    let text = match (&ctx.settings.calendar_token, ctx.channel) {
        (None, _) => format!("your calendar (your shifts and windows): {feed}"),
        (Some(token), None) => format!(
            "your calendar (your shifts and windows): {feed}{}\nthe link carries the calendar token: keep it to yourself",
            token.query()
        ),
        (Some(_), Some(_)) => format!(
            "your calendar (your shifts and windows) is {feed}, which needs the calendar token; it is never posted in a channel: send me {}oncall ics in a direct message for the whole link",
            ctx.settings.prefix
        ),
    };
    Ok(Outcome::reply(text))
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
    let tz = ctx.zone;
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
        Oncall::Override(OverrideCmd::List { rotation: name }) => {
            let names: Vec<String> = rotations(ctx.settings, name.as_deref())?
                .iter()
                .map(|r| r.name.clone())
                .collect();
            let mut overrides: Vec<&Override> = duty
                .overrides
                .iter()
                .filter(|o| names.contains(&o.rotation) && o.until > ctx.now)
                .collect();
            overrides.sort_by_key(|o| (o.from, o.id));
            if overrides.is_empty() {
                return Ok(Outcome::reply("no overrides are running or coming"));
            }
            let lines: Vec<String> = overrides
                .iter()
                .map(|o| {
                    format!(
                        "override {}: {} on {} from {} until {} (by {}){}",
                        o.id,
                        name_of(&o.person),
                        o.rotation,
                        format_instant(o.from, tz),
                        format_instant(o.until, tz),
                        o.by,
                        if o.from <= ctx.now {
                            " — running"
                        } else {
                            ""
                        }
                    )
                })
                .collect();
            Ok(Outcome::reply(lines.join("\n")))
        }
        Oncall::Override(OverrideCmd::Cancel { id }) => {
            let o = duty
                .overrides
                .iter()
                .find(|o| o.id == *id)
                .ok_or_else(|| Error::not_found(format!("override \"{id}\" is unknown")))?;
            let r = rotation(ctx.settings, &o.rotation)?;
            member_or_admin(ctx, r, "oncall override cancel")?;
            if o.until <= ctx.now {
                return Err(Error::invalid(format!(
                    "override {id} is over (it ended {}); nothing changed",
                    format_instant(o.until, tz)
                )));
            }
            let what = if o.from <= ctx.now {
                "ended now"
            } else {
                "cancelled"
            };
            let text = format!(
                "override {id} ({} on {} from {} until {}) {what} by {}",
                name_of(&o.person),
                r.name,
                format_instant(o.from, tz),
                format_instant(o.until, tz),
                ctx.caller.name()
            );
            let mut outcome = Outcome::reply(text.clone())
                .change(crate::Change::Duty(Change::OverrideCancelled { id: *id }));
            for channel in &r.channels {
                outcome = outcome.announce(Announcement {
                    to: Audience::Channel(channel.clone()),
                    text: text.clone(),
                });
            }
            Ok(outcome)
        }
        Oncall::Swap(Swap::List { rotation: name }) => {
            let names: Vec<String> = rotations(ctx.settings, name.as_deref())?
                .iter()
                .map(|r| r.name.clone())
                .collect();
            let mut swaps: Vec<&SwapEntry> = duty
                .swaps
                .iter()
                .filter(|s| names.contains(&s.rotation) && s.until > ctx.now)
                .collect();
            swaps.sort_by_key(|s| (s.from, s.id));
            if swaps.is_empty() {
                return Ok(Outcome::reply("no swaps are open or coming"));
            }
            let lines: Vec<String> = swaps
                .iter()
                .map(|s| {
                    let state = match &s.taker {
                        Some(t) => format!("taken by {t}"),
                        None => format!("open: {}oncall swap take {}", ctx.settings.prefix, s.id),
                    };
                    format!(
                        "swap {}: {}'s {} shift {} – {}{} ({state})",
                        s.id,
                        s.original,
                        s.rotation,
                        format_instant(s.from, tz),
                        format_instant(s.until, tz),
                        if s.reason.is_empty() {
                            String::new()
                        } else {
                            format!(": {}", s.reason)
                        }
                    )
                })
                .collect();
            Ok(Outcome::reply(lines.join("\n")))
        }
        Oncall::Swap(Swap::Cancel { id }) => {
            let s = duty
                .swaps
                .iter()
                .find(|s| s.id == *id)
                .ok_or_else(|| Error::not_found(format!("swap \"{id}\" is unknown")))?;
            let mine = ctx.caller.person.as_ref() == Some(&s.original);
            if !(mine || ctx.caller.has(Role::Admin)) {
                return Err(Error::Permission {
                    action: "oncall swap cancel".into(),
                    need: crate::error::Need::Role(vec![Role::Admin]),
                    who: format!("swap {id} was asked for by {}", s.original),
                });
            }
            if let Some(taker) = &s.taker {
                return Err(Error::conflict(format!(
                    "swap {id} was already taken by {taker}; nothing changed (an override can change the shift)"
                )));
            }
            if s.until <= ctx.now {
                return Err(Error::invalid(format!("the shift of swap {id} is over")));
            }
            let text = format!(
                "{} withdrew swap {id} ({}'s {} shift {} – {})",
                ctx.caller.name(),
                s.original,
                s.rotation,
                format_instant(s.from, tz),
                format_instant(s.until, tz)
            );
            let mut outcome = Outcome::reply(text.clone())
                .change(crate::Change::Duty(Change::SwapCancelled { id: *id }));
            if let Ok(r) = rotation(ctx.settings, &s.rotation) {
                for channel in &r.channels {
                    outcome = outcome.announce(Announcement {
                        to: Audience::Channel(channel.clone()),
                        text: text.clone(),
                    });
                }
            }
            Ok(outcome)
        }
        Oncall::Override(OverrideCmd::Set {
            rotation: name,
            person,
            from,
            until,
        }) => {
            let r = rotation(ctx.settings, name)?;
            member_or_admin(ctx, r, "oncall override")?;
            let person = if person == NOBODY {
                None
            } else {
                Some(crate::mention::person(ctx, person)?)
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
        Oncall::Ics => own_feed(ctx),
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
                outcome = post_digest(outcome, r, &digest);
            }
            outcome.reply = replies.join("\n\n");
            Ok(outcome)
        }
    }
}

/// Posts a handoff digest to the rotation's channels and to the
/// `[announce] handoff` channels (a channel named by both gets it once: the
/// shell drops repeats of a text to one destination).
fn post_digest(mut outcome: Outcome, rotation: &Rotation, text: &str) -> Outcome {
    for channel in &rotation.channels {
        outcome = outcome.announce(Announcement {
            to: Audience::Channel(channel.clone()),
            text: text.to_string(),
        });
    }
    outcome.announce(Announcement::to(AnnounceKind::Handoff, text))
}

/// The handoff digest: who hands over to whom, and what is still open.
pub fn digest(
    ctx: &Context,
    state: &State,
    rotation: &Rotation,
    from: Option<PersonId>,
    to: Option<PersonId>,
) -> String {
    let tz = ctx.zone;
    let shift_end = next_change(rotation, &state.duty, ctx.now);
    let items = crate::open_items(ctx, state, shift_end);
    let head = match (&from, &to) {
        (Some(f), t) if Some(f) != t.as_ref() => format!(
            "{} handoff: {} → {}",
            rotation.name,
            crate::mention::ping(f),
            ping_of(&to)
        ),
        _ => format!("{} handoff: {} is on shift", rotation.name, ping_of(&to)),
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
            outcome = post_digest(outcome, r, &text);
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
            format_instant(next, ctx.zone),
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
    fn ics_gives_the_callers_own_feed_and_its_token_only_in_private() {
        let mut w = crate::tests::World::empty();
        let bob = crate::tests::bob();
        let in_channel = |w: &crate::tests::World, caller: &Caller| {
            let ops: ChannelAddr = "console:#ops".parse().expect("channel");
            let ctx = Context {
                channel: Some(&ops),
                ..w.ctx(caller)
            };
            crate::handle(&w.command("oncall ics"), &ctx, &w.state)
        };
        // No public_url: nothing to link to.
        let err = w.try_line(&bob, "oncall ics").expect_err("no public_url");
        assert_eq!(
            err.to_string(),
            "calendar links need the bot's [http] public_url, which is not set; ask an admin"
        );
        w.settings.public_url = Some("https://bot.example.org/".into());
        // Feeds without a token: the link, anywhere.
        let want = "your calendar (your shifts and windows): https://bot.example.org/calendar/person/bob.ics";
        assert_eq!(w.ok(&bob, "oncall ics").reply, want);
        assert_eq!(in_channel(&w, &bob).expect("in a channel").reply, want);
        // With a token: whole in a direct message, never in a channel.
        w.settings.calendar_token = Some(crate::calendar::CalendarToken::new("s3cret&x"));
        assert_eq!(
            w.ok(&bob, "oncall ics").reply,
            "your calendar (your shifts and windows): https://bot.example.org/calendar/person/bob.ics?token=s3cret%26x\nthe link carries the calendar token: keep it to yourself"
        );
        let public = in_channel(&w, &bob).expect("in a channel").reply;
        assert!(!public.contains("s3cret"), "{public}");
        assert_eq!(
            public,
            "your calendar (your shifts and windows) is https://bot.example.org/calendar/person/bob.ics, which needs the calendar token; it is never posted in a channel: send me !oncall ics in a direct message for the whole link"
        );
        // A guest has no calendar of their own; nothing is recorded.
        let err = w
            .try_line(&Caller::guest("mallory"), "oncall ics")
            .expect_err("guest");
        assert!(
            err.to_string()
                .starts_with("oncall ics needs an identified account"),
            "{err}"
        );
        assert!(w.history.is_empty(), "a read writes nothing");
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

    #[test]
    fn a_handoff_pings_the_outgoing_and_incoming_person_in_its_channels() {
        let mut r = cron_rotation("0 0 9 * * Mon,Thu", "2026-10-21 12:00");
        let channel = ChannelAddr::new(crate::Network::Console, "#ops");
        r.channels = vec![channel.clone()];
        let mut w = crate::tests::World::empty();
        w.settings.rotations = vec![r];
        w.now = utc("2026-10-23T10:00:00Z");
        let guest = crate::Caller::guest("scheduler");
        let first = run_handoff(&w.ctx(&guest), &w.state, "r");
        assert!(first.announce.is_empty(), "first sight says nothing");
        w.commit(crate::Actor::scheduler("handoff:r"), first.changes);
        w.now = utc("2026-10-26T09:00:00Z");
        let o = run_handoff(&w.ctx(&guest), &w.state, "r");
        let pinged: Vec<(Audience, Vec<String>)> = o
            .announce
            .iter()
            .map(|a| (a.to.clone(), crate::mention::people(&a.text)))
            .collect();
        let both = vec!["a".to_string(), "b".to_string()];
        assert_eq!(
            pinged,
            [
                (Audience::Channel(channel), both.clone()),
                (Audience::Kind(crate::AnnounceKind::Handoff), both.clone()),
                (Audience::Person(PersonId::new("a")), both.clone()),
                (Audience::Person(PersonId::new("b")), both),
            ],
            "the DMs are unchanged: both people, the same digest"
        );
    }

    use crate::tests::{World, alice, bob, guest, noon, root};
    use crate::{AnnounceKind, Caller, Job};

    /// A world with a daily `ci` rotation: alice today (from 09:00 UTC),
    /// bob tomorrow, then carol; areas `security` (people) and `ci` (rotation).
    fn duty_world() -> World {
        let mut world = World::empty();
        world.settings.people = ["alice", "bob", "carol"].map(PersonId::new).to_vec();
        world.settings.rotations = vec![Rotation {
            name: "ci".into(),
            members: ["alice", "bob", "carol"].map(PersonId::new).to_vec(),
            pattern: ShiftPattern::Days(1),
            anchor: NaiveDateTime::parse_from_str("2026-11-22 09:00", "%Y-%m-%d %H:%M")
                .expect("anchor"),
            timezone: Tz::UTC,
            channels: vec!["console:#ci".parse().expect("channel")],
            grants: vec![],
            emails: BTreeMap::new(),
        }];
        world.settings.liaisons.insert(
            "security".into(),
            crate::liaison::Cover::People(vec![PersonId::new("carol")]),
        );
        world
            .settings
            .liaisons
            .insert("ci".into(), crate::liaison::Cover::Rotation("ci".into()));
        world
    }

    fn carol() -> Caller {
        Caller::person(PersonId::new("carol"), [])
    }

    #[test]
    fn overrides_are_listed_and_cancelled() {
        let mut world = duty_world();
        assert_eq!(
            world.ok(&guest(), "oncall override list").reply,
            "no overrides are running or coming"
        );
        // The usual form still sets one; so does the explicit `set`.
        world.ok(
            &bob(),
            "oncall override ci bob 2026-11-22T11:00 2026-11-22T15:00",
        );
        world.ok(
            &alice(),
            "oncall override set ci carol 2026-11-24 2026-11-25",
        );
        assert_eq!(
            on_shift(&world.settings.rotations[0], &world.state.duty, noon()),
            Some(PersonId::new("bob"))
        );
        let list = world.ok(&guest(), "oncall override list ci").reply;
        assert_eq!(
            list,
            "override 1: bob on ci from 2026-11-22 11:00 UTC until 2026-11-22 15:00 UTC (by bob) — running\n\
             override 2: carol on ci from 2026-11-24 00:00 UTC until 2026-11-25 00:00 UTC (by alice)"
        );
        // Only members of the rotation (or admins) cancel.
        let err = world
            .run(
                &Caller::person(PersonId::new("dave"), []),
                "oncall override cancel 2",
            )
            .expect_err("not a member");
        assert!(
            err.to_string()
                .contains("dave is not a member of rotation ci"),
            "{err}"
        );
        assert!(
            world
                .run(&carol(), "oncall override cancel 9")
                .expect_err("unknown")
                .to_string()
                .contains("override \"9\" is unknown")
        );
        // A coming one goes; a running one ends now, so alice is back on.
        let out = world.ok(&carol(), "oncall override cancel 2");
        assert!(out.reply.starts_with("override 2 (carol on ci from 2026-11-24 00:00 UTC until 2026-11-25 00:00 UTC) cancelled by carol"), "{}", out.reply);
        assert_eq!(out.announce.len(), 1, "told in the rotation's channel");
        let out = world.ok(&root(), "oncall override cancel 1");
        assert!(out.reply.contains(") ended now by root"), "{}", out.reply);
        let r = &world.settings.rotations[0];
        assert_eq!(
            on_shift(r, &world.state.duty, noon()),
            Some(PersonId::new("alice"))
        );
        // Who was on before the cancel stays as it was.
        assert_eq!(
            on_shift(r, &world.state.duty, noon() - Duration::minutes(30)),
            Some(PersonId::new("bob"))
        );
        assert!(
            world
                .run(&root(), "oncall override cancel 1")
                .expect_err("over")
                .to_string()
                .contains("override 1 is over")
        );
        assert_eq!(
            world.ok(&guest(), "oncall override list").reply,
            "no overrides are running or coming"
        );
        // `override` alone still shows its usage, with the new verbs.
        let words = crate::words::split("oncall override").expect("words");
        let Ok(crate::Parsed::Help(text)) = crate::parse(&words, "!") else {
            panic!("help for bare override")
        };
        assert!(text.contains("list") && text.contains("cancel"), "{text}");
    }

    #[test]
    fn swaps_are_listed_and_withdrawn() {
        let mut world = duty_world();
        assert_eq!(
            world.ok(&guest(), "oncall swap list").reply,
            "no swaps are open or coming"
        );
        world.ok(&bob(), "oncall swap request ci 2026-11-23 dentist");
        world.ok(
            &Caller::person(PersonId::new("carol"), []),
            "oncall swap request ci 2026-11-24",
        );
        world.ok(&alice(), "oncall swap take 2");
        assert_eq!(
            world.ok(&guest(), "oncall swap list ci").reply,
            "swap 1: bob's ci shift 2026-11-23 09:00 UTC – 2026-11-24 09:00 UTC: dentist (open: !oncall swap take 1)\n\
             swap 2: carol's ci shift 2026-11-24 09:00 UTC – 2026-11-25 09:00 UTC (taken by alice)"
        );
        let err = world
            .run(&carol(), "oncall swap cancel 1")
            .expect_err("not hers");
        assert!(
            err.to_string().contains("swap 1 was asked for by bob"),
            "{err}"
        );
        let err = world
            .run(&carol(), "oncall swap cancel 2")
            .expect_err("taken");
        assert!(
            err.to_string()
                .contains("swap 2 was already taken by alice"),
            "{err}"
        );
        let out = world.ok(&bob(), "oncall swap cancel 1");
        assert!(
            out.reply.starts_with("bob withdrew swap 1"),
            "{}",
            out.reply
        );
        assert!(world.state.duty.swaps.iter().all(|s| s.id != 1));
        let err = world.run(&alice(), "oncall swap take 1").expect_err("gone");
        assert!(err.to_string().contains("swap \"1\" is unknown"), "{err}");
    }

    #[test]
    fn handoff_digests_also_go_to_the_handoff_announce_channels() {
        let mut world = duty_world();
        world.job(&Job::Handoff {
            rotation: "ci".into(),
        }); // first sight
        world.now = noon() + Duration::days(1);
        let out = world.job(&Job::Handoff {
            rotation: "ci".into(),
        });
        let kinds: Vec<&Audience> = out.announce.iter().map(|a| &a.to).collect();
        assert!(
            kinds.contains(&&Audience::Kind(AnnounceKind::Handoff)),
            "{kinds:?}"
        );
        assert!(
            kinds.contains(&&Audience::Channel("console:#ci".parse().expect("channel"))),
            "{kinds:?}"
        );
        let asked = world.ok(&guest(), "oncall handoff");
        assert!(
            asked
                .announce
                .iter()
                .any(|a| a.to == Audience::Kind(AnnounceKind::Handoff))
        );
    }

    #[test]
    fn bare_who_lists_every_area_and_who_covers_it() {
        let mut world = duty_world();
        world.now = noon();
        assert_eq!(
            world.ok(&guest(), "who").reply,
            "ci: alice (on shift in ci)\nsecurity: carol"
        );
        assert_eq!(world.ok(&guest(), "who security").reply, "security: carol");
        assert_eq!(
            World::empty().ok(&guest(), "who").reply,
            "no areas are configured ([liaisons] in the config, or role set)"
        );
    }
}
