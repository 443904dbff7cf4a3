//! What the fuzz targets share: the core set up as the shipped example
//! config sets it up (trees, pools, windows, rotations, task links), and a
//! [`World`] that does what the ledger does with an outcome — append the
//! event, apply it — plus the checks that matter for a restart: every event
//! and every view must survive the JSON round trip the ledger stores them in.

#![forbid(unsafe_code)]

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use signalbox::config::Config;
use signalbox::identity::Directory;
use signalbox_commands::{
    Actor, Caller, Change, Context, Event, EventId, Family, Network, Outcome, PlatformUserId,
    SCHEMA, Settings, State, TreeName, run_job,
};

/// The configuration every README example and the quickstart use.
pub const EXAMPLE: &str = include_str!("../../config.toml.example");

/// The example config, parsed and checked.
pub fn example_config() -> Config {
    Config::from_text(EXAMPLE, "config.toml.example", &HashMap::new(), None)
        .expect("the shipped example config is valid")
}

/// The core's state and log in memory, with a clock that moves when told.
#[derive(Clone)]
pub struct World {
    pub settings: Settings,
    pub directory: Directory,
    pub state: State,
    pub history: Vec<Event>,
    pub now: DateTime<Utc>,
}

impl World {
    /// The example config's trees, added by event 1, on a Monday morning
    /// inside the backport window's week.
    pub fn new(config: &Config) -> World {
        let mut world = World {
            settings: config.settings(),
            directory: Directory::from_config(config),
            state: State::default(),
            history: Vec::new(),
            now: "2026-11-23T09:30:00Z"
                .parse()
                .expect("a valid RFC 3339 instant"),
        };
        let changes = config
            .trees
            .names
            .iter()
            .map(|n| {
                Change::Tree(signalbox_commands::tree::Change::Add {
                    tree: TreeName::new(n),
                })
            })
            .collect();
        world.commit(Actor::scheduler("config"), changes);
        world
    }

    /// The caller a console user is, as the router would find them.
    pub fn caller(&self, user: &str) -> Caller {
        self.directory
            .caller(Network::Console, &PlatformUserId::new(user), &[])
    }

    pub fn actor(&self, caller: &Caller) -> Actor {
        Actor {
            person: caller.person.clone(),
            handle: caller.handle.clone(),
            network: Network::Console,
            channel: None,
        }
    }

    pub fn next_id(&self) -> EventId {
        EventId(self.history.len() as u64 + 1)
    }

    /// Runs `f` with a context for `caller` at the current instant.
    pub fn with_context<T>(&self, caller: &Caller, f: impl FnOnce(&Context, &State) -> T) -> T {
        let ctx = Context {
            caller,
            network: Network::Console,
            channel: None,
            now: self.now,
            zone: self.settings.timezone,
            settings: &self.settings,
            history: &self.history,
            event_id: self.next_id(),
            aliases: signalbox_commands::mention::Aliases::none(),
        };
        f(&ctx, &self.state)
    }

    /// Records an outcome as the ledger would: links in the texts, then the
    /// event (if anything changed).
    pub fn record(&mut self, actor: Actor, outcome: Outcome) {
        let _ = self.settings.tasks.linkify(&outcome.reply);
        for a in &outcome.announce {
            let _ = self.settings.tasks.linkify(&a.text);
        }
        if !outcome.changes.is_empty() {
            self.commit(actor, outcome.changes);
        }
    }

    fn commit(&mut self, actor: Actor, changes: Vec<Change>) {
        let event = Event {
            v: SCHEMA,
            id: self.next_id(),
            at: self.now,
            actor,
            changes,
        };
        let stored = serde_json::to_vec(&event).expect("events always serialize");
        let loaded: Event = serde_json::from_slice(&stored).expect("a stored event loads back");
        assert_eq!(loaded, event, "an event changes in the ledger's round trip");
        self.state.apply(&event);
        self.history.push(event);
    }

    /// Moves the clock and runs every one-shot timer that came due, as the
    /// scheduler does.
    pub fn advance(&mut self, by: Duration) {
        self.now += by;
        let due: Vec<_> = self
            .state
            .timers()
            .into_iter()
            .filter(|(at, _)| *at <= self.now)
            .map(|(_, job)| job)
            .collect();
        let scheduler = Caller::guest("scheduler");
        for job in due {
            let outcome = self.with_context(&scheduler, |ctx, state| run_job(&job, ctx, state));
            self.record(Actor::scheduler(&job.name()), outcome);
        }
    }

    /// Every family's view must load back to the same state after a restart.
    pub fn check_views_round_trip(&self) {
        let mut restored = State::default();
        for family in Family::ALL {
            let stored = serde_json::to_vec(&self.state.view(family)).expect("views serialize");
            let value: serde_json::Value =
                serde_json::from_slice(&stored).expect("a stored view is JSON");
            restored
                .load_view(family, value)
                .expect("a stored view loads back");
        }
        assert_eq!(restored, self.state, "the state changes across a restart");
    }
}
