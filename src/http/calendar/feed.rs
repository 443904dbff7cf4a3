//! What the calendar feeds and the week page show, before it becomes
//! iCalendar or HTML: one [`Entry`] per window occurrence and per stretch of
//! a shift. The occurrences come from the same functions the commands use
//! (`WindowDef::occurrences`, `on_shift`, `next_change`), so a feed cannot
//! disagree with `window list` or `oncall next`.
//!
//! UIDs are built from what names an occurrence (the window and its start;
//! the rotation and the stretch's start), never from a counter or the time
//! of the request, so they survive restarts and edits. SEQUENCE counts the
//! logged changes to the occurrence ([`Edits`]), so it only ever grows.

use chrono::{DateTime, Duration, TimeZone, Utc};
use chrono_tz::Tz;
use signalbox_commands::oncall::{NOBODY, Rotation, next_change, on_shift};
use signalbox_commands::window::WindowDef;
use signalbox_commands::{PersonId, Settings, State};

use super::edits::Edits;

/// How far back the feeds and the page reach.
pub const BEHIND: Duration = Duration::days(14);
/// How far ahead.
pub const AHEAD: Duration = Duration::days(56);

/// At most this many stretches of one rotation are listed (an hourly
/// rotation over ten weeks is 1,680).
const MAX_STRETCHES: usize = 5_000;

/// At most this many occurrences of one window.
const MAX_OCCURRENCES: usize = 2_000;

/// What an entry is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Window {
        name: String,
        deployers: Vec<PersonId>,
        /// Owners of the patches queued for it.
        owners: Vec<PersonId>,
    },
    Shift {
        rotation: String,
        person: PersonId,
    },
}

/// One calendar event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub uid: String,
    pub summary: String,
    pub description: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// The zone it is shown in (the window's or rotation's).
    pub tz: Tz,
    pub sequence: u32,
    pub cancelled: bool,
    pub kind: Kind,
}

impl Entry {
    /// Whether `person` deploys, has a patch in, or holds this.
    pub fn involves(&self, person: &PersonId) -> bool {
        match &self.kind {
            Kind::Window {
                deployers, owners, ..
            } => deployers.contains(person) || owners.contains(person),
            Kind::Shift { person: p, .. } => p == person,
        }
    }
}

/// The instant as the UID shows it.
fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

pub fn window_uid(name: &str, start: DateTime<Utc>) -> String {
    format!("window-{name}-{}@signalbox", stamp(start))
}

pub fn shift_uid(rotation: &str, start: DateTime<Utc>) -> String {
    format!("shift-{rotation}-{}@signalbox", stamp(start))
}

/// Every occurrence of `def` that ends after `from` and starts before `to`
/// (`WindowDef::occurrences` lists a few at a time).
pub fn occurrences(def: &WindowDef, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let mut out: Vec<DateTime<Utc>> = Vec::new();
    let mut cursor = from;
    while out.len() < MAX_OCCURRENCES {
        let fresh: Vec<DateTime<Utc>> = def
            .occurrences(cursor, to)
            .into_iter()
            .filter(|s| out.last().is_none_or(|last| s > last))
            .collect();
        let Some(last) = fresh.last().copied() else {
            break;
        };
        out.extend(fresh);
        // The next batch starts after this one's last occurrence.
        cursor = last + def.duration;
    }
    out.truncate(MAX_OCCURRENCES);
    out
}

fn people(list: &[PersonId]) -> String {
    if list.is_empty() {
        "none".to_string()
    } else {
        list.iter()
            .map(PersonId::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Every window occurrence overlapping `[from, to)`: recurring ones from
/// config, one-off ones from the log (they leave the state once done, but
/// stay in the calendar), and, cancelled, occurrences that had patches
/// queued but no longer happen (the window's schedule changed).
pub fn windows(
    settings: &Settings,
    state: &State,
    edits: &Edits,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<Entry> {
    let mut out = Vec::new();
    for def in &settings.windows {
        for start in occurrences(def, from, to) {
            out.push(window_entry(
                state,
                edits,
                &def.name,
                start,
                start + def.duration,
                def.timezone,
                &def.deployers,
            ));
        }
    }
    for adhoc in edits.adhoc() {
        if adhoc.start < to && adhoc.start + adhoc.duration > from {
            out.push(window_entry(
                state,
                edits,
                &adhoc.name,
                adhoc.start,
                adhoc.start + adhoc.duration,
                settings.timezone,
                &adhoc.deployers,
            ));
        }
    }
    for (name, start) in edits.queued_for() {
        let live = out.iter().any(|e| {
            e.start == start && matches!(&e.kind, Kind::Window { name: n, .. } if *n == name)
        });
        if live || start >= to || start < from {
            continue;
        }
        let def = settings.windows.iter().find(|d| d.name == name);
        let duration = def.map_or(Duration::hours(1), |d| d.duration);
        let tz = def.map_or(settings.timezone, |d| d.timezone);
        let mut entry = window_entry(state, edits, &name, start, start + duration, tz, &[]);
        entry.cancelled = true;
        // Cancelling is a change subscribers must see over the last version.
        entry.sequence += 1;
        entry.summary = format!("{name} deploy window (cancelled)");
        entry.description = format!(
            "this occurrence of {name} is no longer scheduled\n{}",
            entry.description
        );
        out.push(entry);
    }
    out.sort_by(|a, b| (a.start, &a.uid).cmp(&(b.start, &b.uid)));
    out
}

fn window_entry(
    state: &State,
    edits: &Edits,
    name: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    tz: Tz,
    deployers: &[PersonId],
) -> Entry {
    let patches: Vec<&signalbox_commands::window::Patch> = state
        .windows
        .queue
        .iter()
        .filter(|p| p.window == name && p.occurrence == start)
        .collect();
    let mut description = format!("deployers: {}", people(deployers));
    if patches.is_empty() {
        description.push_str("\nno patches queued");
    } else {
        description.push_str("\npatches:");
        for p in &patches {
            description.push_str(&format!("\n#{} {}", p.id, p.change));
            if let Some(task) = &p.task {
                description.push_str(&format!(" {}", task.id));
                if let Some(url) = &task.url {
                    description.push_str(&format!(" {url}"));
                }
            }
            description.push_str(&format!(" ({})", p.owner));
        }
    }
    let mut owners: Vec<PersonId> = Vec::new();
    for p in &patches {
        if !owners.contains(&p.owner) {
            owners.push(p.owner.clone());
        }
    }
    Entry {
        uid: window_uid(name, start),
        summary: format!("{name} deploy window"),
        description,
        start,
        end,
        tz,
        sequence: edits.window_sequence(name, start),
        cancelled: false,
        kind: Kind::Window {
            name: name.to_string(),
            deployers: deployers.to_vec(),
            owners,
        },
    }
}

/// The stretches of `rotation` overlapping `[from, to)` with who holds
/// each, overrides and taken swaps applied: one entry from each change of
/// shift (as `oncall next` lists them) to the next. Gaps (nobody on shift)
/// are left out.
pub fn shifts(
    rotation: &Rotation,
    state: &State,
    edits: &Edits,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<Entry> {
    let duty = &state.duty;
    let mut out = Vec::new();
    let mut start = signalbox_commands::oncall::last_change(rotation, duty, from);
    while start < to && out.len() < MAX_STRETCHES {
        let end = next_change(rotation, duty, start);
        if end <= start {
            break;
        }
        if let Some(person) = on_shift(rotation, duty, start) {
            let email = rotation.emails.get(&person);
            let mut description = format!("{} on {} shift", person, rotation.name);
            if let Some(email) = email {
                description.push_str(&format!("\nemail: {email}"));
            }
            let k = rotation.index_at(start);
            let shift = (rotation.start(k), rotation.start(k + 1));
            out.push(Entry {
                uid: shift_uid(&rotation.name, start),
                summary: format!("{}: {person}", rotation.name),
                description,
                start,
                end,
                tz: rotation.timezone,
                sequence: edits.shift_sequence(&rotation.name, shift.0, shift.1),
                cancelled: false,
                kind: Kind::Shift {
                    rotation: rotation.name.clone(),
                    person,
                },
            });
        }
        start = end;
    }
    out
}

/// Every rotation's stretches, by start.
pub fn all_shifts(
    settings: &Settings,
    state: &State,
    edits: &Edits,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<Entry> {
    let mut out: Vec<Entry> = settings
        .rotations
        .iter()
        .flat_map(|r| shifts(r, state, edits, from, to))
        .collect();
    out.sort_by(|a, b| (a.start, &a.uid).cmp(&(b.start, &b.uid)));
    out
}

/// `NOBODY` is never a person with a calendar.
pub fn is_person(settings: &Settings, name: &str) -> bool {
    name != NOBODY && settings.people.iter().any(|p| p.as_str() == name)
}

/// A local time that names `t` unambiguously in `tz`; `None` when it does
/// not (the repeated hour of a fall-back), and the entry is then written in
/// UTC.
pub fn local(t: DateTime<Utc>, tz: Tz) -> Option<chrono::NaiveDateTime> {
    let naive = t.with_timezone(&tz).naive_local();
    match tz.from_local_datetime(&naive) {
        chrono::LocalResult::Single(back) if back.with_timezone(&Utc) == t => Some(naive),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("instant")
    }

    fn daily_berlin() -> WindowDef {
        WindowDef {
            name: "backport".into(),
            schedule: cron::Schedule::from_str("0 0 15 * * *").expect("cron"),
            cron: "0 0 15 * * *".into(),
            duration: Duration::hours(1),
            timezone: chrono_tz::Europe::Berlin,
            deployers: vec![PersonId::new("erin")],
            channels: vec![],
        }
    }

    #[test]
    fn occurrences_page_past_the_per_window_cap_and_keep_local_time_across_dst() {
        let def = daily_berlin();
        // Berlin leaves summer time on 2026-10-25.
        let list = occurrences(&def, at("2026-10-01T00:00:00Z"), at("2026-12-01T00:00:00Z"));
        assert_eq!(list.len(), 61, "every day of October and November");
        assert_eq!(list[0], at("2026-10-01T13:00:00Z"), "15:00 CEST");
        assert_eq!(list[60], at("2026-11-30T14:00:00Z"), "15:00 CET");
        let mut sorted = list.clone();
        sorted.dedup();
        assert_eq!(sorted, list, "no occurrence twice");
    }

    #[test]
    fn uids_name_the_occurrence() {
        assert_eq!(
            window_uid("backport", at("2026-10-01T13:00:00Z")),
            "window-backport-20261001T130000Z@signalbox"
        );
        assert_eq!(
            shift_uid("ciduty", at("2026-10-01T07:00:00Z")),
            "shift-ciduty-20261001T070000Z@signalbox"
        );
    }

    #[test]
    fn the_repeated_hour_is_written_in_utc() {
        let tz = chrono_tz::Europe::Berlin;
        // 02:30 local happens twice on 2026-10-25: at 00:30 and 01:30 UTC.
        assert_eq!(local(at("2026-10-25T00:30:00Z"), tz), None);
        assert_eq!(local(at("2026-10-25T01:30:00Z"), tz), None);
        assert_eq!(
            local(at("2026-10-25T03:00:00Z"), tz).map(|n| n.to_string()),
            Some("2026-10-25 04:00:00".to_string())
        );
    }
}
