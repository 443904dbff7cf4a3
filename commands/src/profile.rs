//! What a person sets about themselves: for now, the time zone they read
//! and type times in. A team spread over Berlin and San Francisco cannot
//! share one zone, and "until 14:00" means the afternoon of whoever typed it.
//! `[people.X] timezone` is the default; `!whoami tz ZONE` overrides it in
//! the ledger, so a person can fix it without an admin editing the config.
//! Scheduled announcements keep the team's `[bot] timezone`.

use std::collections::BTreeMap;

use chrono_tz::Tz;
use clap::Subcommand;
use serde::{Deserialize, Serialize};

use crate::event::Event;
use crate::id::PersonId;
use crate::role::Permit;
use crate::{Context, Error, Outcome, Settings, words};

/// Who you are to the bot, and what you set about yourself.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
#[command(
    after_help = "examples:\n  !whoami\n  !whoami tz\n  !whoami tz Europe/Berlin\n  !whoami tz default"
)]
pub enum Whoami {
    /// Show who the bot thinks you are and the roles you hold now (bare
    /// `whoami` does this too).
    Show,
    /// Show your time zone, or set the one times are shown and read in for
    /// you (an IANA name such as Europe/Berlin; `default` goes back to the
    /// configured one).
    Tz { zone: Option<String> },
}

impl Whoami {
    pub fn permit(&self) -> Permit {
        match self {
            Whoami::Show | Whoami::Tz { zone: None } => Permit::Anyone,
            Whoami::Tz { zone: Some(_) } => Permit::Identified,
        }
    }

    pub fn verb(&self) -> &'static str {
        match self {
            Whoami::Show => "show",
            Whoami::Tz { .. } => "tz",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// A person's zone; `None` goes back to the configured one.
    Zone { person: PersonId, zone: Option<Tz> },
}

/// Zones people set in chat, over the configured ones.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profiles {
    pub zones: BTreeMap<PersonId, Tz>,
}

impl Profiles {
    pub fn apply(&mut self, _event: &Event, change: &Change) {
        match change {
            Change::Zone { person, zone } => match zone {
                Some(zone) => {
                    self.zones.insert(person.clone(), *zone);
                }
                None => {
                    self.zones.remove(person);
                }
            },
        }
    }

    /// The zone `person` reads times in: set in chat, configured, or the
    /// team's.
    pub fn zone(&self, settings: &Settings, person: Option<&PersonId>) -> Tz {
        person
            .and_then(|p| self.zones.get(p).or_else(|| settings.zones.get(p)))
            .copied()
            .unwrap_or(settings.timezone)
    }
}

/// `whoami tz [ZONE]`.
pub fn tz(zone: Option<&str>, ctx: &Context, profiles: &Profiles) -> Result<Outcome, Error> {
    let Some(zone) = zone else {
        return Ok(Outcome::reply(format!(
            "your time zone is {}{}",
            ctx.zone.name(),
            match ctx.caller.person.as_ref() {
                Some(p) if profiles.zones.contains_key(p) => " (set with whoami tz)",
                Some(p) if ctx.settings.zones.contains_key(p) => " (from the config)",
                _ => " (the team's)",
            }
        )));
    };
    let person = ctx
        .caller
        .person
        .clone()
        .ok_or_else(|| Error::Usage("a guest has no time zone to set".to_string()))?;
    let zone = if zone.eq_ignore_ascii_case("default") {
        None
    } else {
        Some(zone.parse::<Tz>().map_err(|_| {
            Error::Usage(format!(
                "unknown time zone \"{}\"; use an IANA name such as Europe/Berlin, or default",
                words::prefix(zone, 60)
            ))
        })?)
    };
    let shown = zone.unwrap_or_else(|| {
        ctx.settings
            .zones
            .get(&person)
            .copied()
            .unwrap_or(ctx.settings.timezone)
    });
    let reply = match zone {
        Some(_) => format!("times are now shown and read in {} for you", shown.name()),
        None => format!("your time zone is back to the default, {}", shown.name()),
    };
    Ok(Outcome::reply(reply).change(crate::Change::Profile(Change::Zone { person, zone })))
}

#[cfg(test)]
mod tests {
    use crate::tests::{World, alice, guest, root};

    #[test]
    fn a_zone_is_set_shown_used_and_reset() {
        let mut world = World::empty();
        world.settings.timezone = "UTC".parse().expect("zone");
        assert_eq!(
            world.ok(&alice(), "whoami tz").reply,
            "your time zone is UTC (the team's)"
        );
        assert_eq!(
            world.ok(&alice(), "whoami tz Europe/Berlin").reply,
            "times are now shown and read in Europe/Berlin for you"
        );
        assert_eq!(
            world.ok(&alice(), "whoami tz").reply,
            "your time zone is Europe/Berlin (set with whoami tz)"
        );
        assert!(
            world
                .ok(&alice(), "whoami")
                .reply
                .ends_with("; times in Europe/Berlin"),
        );
        // Shown: the alert began at noon UTC, 13:00 in Berlin in November.
        world.ok(&root(), "status alert CI is down");
        assert_eq!(
            world.ok(&alice(), "status").reply,
            "alert from root since 2026-11-22 13:00 CET: CI is down"
        );
        assert_eq!(
            world.ok(&guest(), "status").reply,
            "alert from root since 2026-11-22 12:00 UTC: CI is down"
        );
        assert_eq!(
            world.ok(&alice(), "whoami tz default").reply,
            "your time zone is back to the default, UTC"
        );
        assert_eq!(
            world.ok(&alice(), "status").reply,
            "alert from root since 2026-11-22 12:00 UTC: CI is down"
        );
    }

    #[test]
    fn a_configured_zone_is_the_default_and_typed_times_are_read_in_it() {
        let mut world = World::with_trees(&["autoland"]);
        let los_angeles = "America/Los_Angeles".parse().expect("zone");
        world
            .settings
            .zones
            .insert(crate::PersonId::new("alice"), los_angeles);
        assert_eq!(
            world.ok(&alice(), "whoami tz").reply,
            "your time zone is America/Los_Angeles (from the config)"
        );
        // 14:00 in Los Angeles on 2026-11-22 is 22:00 UTC (PST, UTC-8).
        let reply = world
            .ok(
                &alice(),
                "tree close autoland bustage #checkin-test until 14:00",
            )
            .reply;
        assert!(reply.contains("2026-11-22 14:00 PST"), "{reply}");
        let until = world
            .state
            .trees
            .get("autoland")
            .and_then(|t| t.condition.until)
            .expect("a deadline");
        assert_eq!(until.to_rfc3339(), "2026-11-22T22:00:00+00:00");
    }

    #[test]
    fn bad_zones_and_guests_are_refused_and_change_nothing() {
        let world = World::empty();
        let before = world.state.clone();
        assert_eq!(
            world
                .try_line(&alice(), "whoami tz Mars/Olympus")
                .expect_err("unknown zone")
                .to_string(),
            "unknown time zone \"Mars/Olympus\"; use an IANA name such as Europe/Berlin, or default"
        );
        assert!(
            world
                .try_line(&guest(), "whoami tz Europe/Berlin")
                .expect_err("a guest")
                .to_string()
                .contains("needs an identified account"),
        );
        assert_eq!(world.state, before);
    }
}
