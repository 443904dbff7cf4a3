//! The router: every message from every network passes here, in this order:
//! lines folded into one → addressed to the bot? → words → grammar → identity → permission → handler
//! (on the ledger's writer, against the latest state) → durable → reply.
//! A reply that confirms a change is returned only after the ledger has
//! flushed it.

use std::sync::Arc;

use signalbox_commands::mention::{self, Aliases};
use signalbox_commands::words;
use signalbox_commands::{
    Actor, Announcement, Audience, Caller, ChannelAddr, Context, Network, Outcome, Parsed,
    PlatformUserId, Settings, State,
};

use crate::clock::Clock;
use crate::config::Announce;
use crate::identity::Directory;
use crate::ledger::{Draft, Ledger, LedgerError};
use crate::limiter::{Limiter, Verdict};
use crate::outbox::Destination;

/// One message as an adapter received it.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub network: Network,
    /// The channel it was said in; `None` for a direct message.
    pub channel: Option<ChannelAddr>,
    /// The sender as the network identifies them (account, user id).
    pub user: PlatformUserId,
    pub text: String,
    /// The network's id for the message, when it has one; a message seen
    /// twice (redelivery, resync) runs once.
    pub id: Option<String>,
    /// Words of the text that name a user by a live name rather than an id
    /// (an IRC nick logged into an account), with that user's id; a command
    /// argument may name a person that way.
    pub aliases: Vec<(String, PlatformUserId)>,
}

/// A reply to one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub text: String,
    /// The command did not run: a usage error, a permission refusal, an
    /// unknown name, a conflict, bad input, or the ledger failing.
    pub refused: bool,
}

/// Turns the core's audiences into concrete destinations.
#[derive(Debug, Clone)]
pub struct Resolver {
    announce: Announce,
    directory: Arc<Directory>,
    settings: Arc<Settings>,
}

impl Resolver {
    /// The destinations of `announcements`, each with its text. One outcome
    /// never says the same text twice to one destination, so a channel
    /// that is both a rotation's and an `[announce]` kind's gets it once.
    pub fn resolve(&self, announcements: &[Announcement]) -> Vec<(Destination, String)> {
        let mut out = self.resolve_all(announcements);
        let mut seen = std::collections::HashSet::new();
        out.retain(|(to, text)| seen.insert((to.clone(), text.clone())));
        out
    }

    fn resolve_all(&self, announcements: &[Announcement]) -> Vec<(Destination, String)> {
        let mut out = Vec::new();
        for a in announcements {
            let text = self.settings.tasks.linkify(&a.text);
            match &a.to {
                Audience::Kind(kind) => {
                    for channel in self.announce.channels(*kind) {
                        out.push(self.bound(Destination::Channel(channel.clone()), &text));
                    }
                }
                Audience::Channel(channel) => {
                    out.push(self.bound(Destination::Channel(channel.clone()), &text))
                }
                Audience::Topic(channel) => {
                    out.push((Destination::Topic(channel.clone()), mention::plain(&a.text)))
                }
                Audience::Person(person) => {
                    for (network, user) in self.directory.handles(person) {
                        if *network != Network::Console {
                            out.push(self.bound(
                                Destination::Direct {
                                    network: *network,
                                    user: user.clone(),
                                },
                                &text,
                            ));
                        }
                    }
                }
            }
        }
        out
    }

    /// A message for `to` with its mentions bound to that network.
    fn bound(&self, to: Destination, text: &str) -> (Destination, String) {
        let text = crate::mention::localize(&self.directory, to.network(), text);
        (to, text)
    }
}

pub struct Router {
    ledger: Ledger,
    directory: Arc<Directory>,
    settings: Arc<Settings>,
    resolver: Resolver,
    bot_name: String,
    clock: Arc<dyn Clock>,
    limiter: Limiter,
}

impl Router {
    pub fn new(
        ledger: Ledger,
        directory: Arc<Directory>,
        settings: Arc<Settings>,
        announce: Announce,
        bot_name: String,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let resolver = Resolver {
            announce,
            directory: directory.clone(),
            settings: settings.clone(),
        };
        Self {
            ledger,
            directory,
            settings,
            resolver,
            bot_name,
            clock,
            limiter: Limiter::new(20, 60),
        }
    }

    /// Sets the per-person command limit (see [`Limiter`]).
    pub fn with_limits(mut self, burst: u32, per_minute: u32) -> Self {
        self.limiter = Limiter::new(burst, per_minute);
        self
    }

    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    pub fn resolver(&self) -> &Resolver {
        &self.resolver
    }

    pub fn settings(&self) -> &Arc<Settings> {
        &self.settings
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The command text of a message addressed to the bot, or `None`.
    fn addressed<'a>(&self, msg: &'a Inbound) -> Option<&'a str> {
        let text = msg.text.trim_start();
        if let Some(rest) = text.strip_prefix(self.settings.prefix.as_str()) {
            // A bare prefix (or one followed by more punctuation, like "!!!")
            // is not a command attempt unless nothing else follows.
            return (rest.is_empty() || !rest.starts_with(|c: char| c.is_ascii_punctuation()))
                .then_some(rest);
        }
        let name = self.bot_name.as_str();
        let lower = text.to_lowercase();
        for lead in [format!("@{name}"), name.to_string()] {
            if lower.starts_with(&lead) {
                let rest = &text[lead.len()..];
                if let Some(rest) = rest
                    .strip_prefix([':', ','])
                    .or_else(|| rest.strip_prefix(' '))
                {
                    return Some(rest);
                }
            }
        }
        // Direct messages and the console need no prefix.
        (msg.channel.is_none() || msg.network == Network::Console).then_some(text)
    }

    /// Handles one message; the reply to send back, if it was for the bot.
    pub async fn dispatch(&self, msg: &Inbound) -> Option<String> {
        self.dispatch_detailed(msg).await.map(|reply| reply.text)
    }

    /// Like [`Router::dispatch`], but says whether the reply is a refusal
    /// (a usage error, a missing role, an unknown name), for networks that
    /// show refusals privately (Slack's ephemeral messages, Discord's
    /// ephemeral answers).
    pub async fn dispatch_detailed(&self, msg: &Inbound) -> Option<Reply> {
        // A message of several lines is one command: its first line, with
        // the others continuing the free text.
        let folded;
        let msg = if msg.text.contains(['\n', '\r']) {
            folded = Inbound {
                text: words::fold_lines(&msg.text),
                ..msg.clone()
            };
            &folded
        } else {
            msg
        };
        let text = self.addressed(msg)?;
        if text.trim().is_empty() {
            let explicit = msg
                .text
                .trim_start()
                .starts_with(self.settings.prefix.as_str());
            return explicit.then(|| Reply {
                text: format!("empty command; try {}help", self.settings.prefix),
                refused: true,
            });
        }
        match self
            .limiter
            .check(msg.network, &msg.user, std::time::Instant::now())
        {
            Verdict::Allow => {}
            Verdict::Drop => return None,
            Verdict::Refuse(wait) => {
                return Some(Reply {
                    text: format!(
                        "slow down: too many commands from \"{}\"; try again in {}s",
                        msg.user,
                        wait.as_secs().max(1)
                    ),
                    refused: true,
                });
            }
        }
        match self.execute(msg, text).await {
            Ok(text) => Some(Reply {
                text,
                refused: false,
            }),
            Err(Refusal::Duplicate) => None,
            Err(Refusal::Message(text)) => Some(Reply {
                text,
                refused: true,
            }),
        }
    }

    /// Runs `action` on the ledger's writer as `caller`, recording its
    /// changes as `actor`'s; the reply once durable, or the core's refusal.
    /// `once` is the message id that makes a redelivery run once.
    pub async fn run_as<F>(
        &self,
        caller: Caller,
        actor: Actor,
        once: Option<String>,
        action: F,
    ) -> Result<Result<String, signalbox_commands::Error>, LedgerError>
    where
        F: FnOnce(&Context, &State) -> Result<Outcome, signalbox_commands::Error> + Send + 'static,
    {
        // Its callers (HTTP) cannot ping: mentions become names.
        self.run_with(caller, actor, once, Aliases::default(), action)
            .await
            .map(|r| r.map(|reply| mention::plain(&reply)))
    }

    /// [`Router::run_as`] with the names this message used for people.
    async fn run_with<F>(
        &self,
        caller: Caller,
        actor: Actor,
        once: Option<String>,
        aliases: Aliases,
        action: F,
    ) -> Result<Result<String, signalbox_commands::Error>, LedgerError>
    where
        F: FnOnce(&Context, &State) -> Result<Outcome, signalbox_commands::Error> + Send + 'static,
    {
        let settings = self.settings.clone();
        let resolver = self.resolver.clone();
        let clock = self.clock.clone();
        let network = actor.network;
        let channel = actor.channel.clone();
        self.ledger
            .transact_once(once, move |state, history, event_id| {
                let now = clock.now();
                let ctx = Context {
                    caller: &caller,
                    network,
                    channel: channel.as_ref(),
                    now,
                    zone: settings.timezone,
                    settings: &settings,
                    history,
                    event_id,
                    aliases: &aliases,
                };
                match action(&ctx, state) {
                    Ok(outcome) => {
                        let reply = settings.tasks.linkify(&outcome.reply);
                        (draft(outcome, now, actor, &resolver), Ok(reply))
                    }
                    Err(e) => (None, Err(e)),
                }
            })
            .await
    }

    pub fn directory(&self) -> &Arc<Directory> {
        &self.directory
    }

    async fn execute(&self, msg: &Inbound, text: &str) -> Result<String, Refusal> {
        let started = std::time::Instant::now();
        let words: Vec<String> = words::split(text)
            .map_err(|e| {
                crate::metrics::command("none", "invalid", msg.network, started.elapsed());
                Refusal::from(e)
            })?
            .iter()
            .map(|w| crate::mention::resolve_word(&self.directory, msg.network, w))
            .collect();
        let command =
            match signalbox_commands::parse(&words, &self.settings.prefix).map_err(|e| {
                crate::metrics::command("none", "usage", msg.network, started.elapsed());
                Refusal::from(e)
            })? {
                Parsed::Help(text) => return Ok(text),
                Parsed::Run(command) => command,
            };
        let caller = self.directory.caller(msg.network, &msg.user, &[]);
        let actor = Actor {
            person: caller.person.clone(),
            handle: msg.user.to_string(),
            network: msg.network,
            channel: msg.channel.clone(),
        };
        let family = command.family();
        let once = msg.id.as_ref().map(|id| format!("{}/{id}", msg.network));
        let mut aliases = Aliases::default();
        for (word, user) in &msg.aliases {
            if let Some(person) = self.directory.person(msg.network, user) {
                aliases.insert(word.clone(), person.clone());
            }
        }
        let result = self
            .run_with(caller, actor, once, aliases, move |ctx, state| {
                signalbox_commands::handle(&command, ctx, state)
            })
            .await;
        let outcome = match &result {
            Ok(Ok(_)) => "ok",
            Ok(Err(e)) => e.stage(),
            Err(LedgerError::Duplicate) => "duplicate",
            Err(_) => "ledger_error",
        };
        crate::metrics::command(family, outcome, msg.network, started.elapsed());
        match result {
            Ok(Ok(reply)) => {
                tracing::debug!(family, "command ok");
                Ok(crate::mention::localize(
                    &self.directory,
                    msg.network,
                    &reply,
                ))
            }
            Ok(Err(e)) => {
                tracing::debug!(family, stage = e.stage(), "command refused");
                Err(Refusal::from(e))
            }
            Err(LedgerError::Duplicate) => Err(Refusal::Duplicate),
            Err(e) => Err(Refusal::Message(format!(
                "could not record the change, nothing changed: {e}"
            ))),
        }
    }
}

/// Why a message got no ordinary reply.
enum Refusal {
    /// Shown to the user.
    Message(String),
    /// A redelivered message: it ran before, so nothing is said.
    Duplicate,
}

impl From<signalbox_commands::Error> for Refusal {
    fn from(e: signalbox_commands::Error) -> Self {
        Refusal::Message(e.to_string())
    }
}

/// The ledger draft for an outcome, with its announcements resolved.
pub fn draft(
    outcome: Outcome,
    at: chrono::DateTime<chrono::Utc>,
    actor: Actor,
    resolver: &Resolver,
) -> Option<Draft> {
    (!outcome.changes.is_empty()).then(|| Draft {
        at,
        actor,
        outbox: resolver.resolve(&outcome.announce),
        changes: outcome.changes,
    })
}
