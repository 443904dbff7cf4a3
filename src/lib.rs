//! signalbox, the I/O shell around the functional core in
//! `signalbox-commands`: configuration, identity, the ledger on sled, the
//! outbox, the scheduler, the HTTP server and the chat adapters.
//!
//! [`Bot`] assembles the pieces; [`run`] and [`console`] are the two ways to
//! start it. Tests build a [`Bot`] in-process with a [`clock::ManualClock`].

#![forbid(unsafe_code)]

pub mod adapter;
pub mod backoff;
pub mod backup;
pub mod clock;
pub mod config;
pub mod http;
pub mod identity;
pub mod ledger;
pub mod limiter;
pub mod mention;
pub mod metrics;
pub mod outbox;
pub mod pages;
pub mod router;
pub mod scheduler;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use signalbox_commands::{Actor, Change, Network, PlatformUserId, TreeName};
use tokio_util::sync::CancellationToken;

use crate::adapter::console::Console;
use crate::adapter::{Adapter, HealthBoard};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::identity::Directory;
use crate::ledger::{Draft, Ledger};
use crate::router::Router;
use crate::scheduler::Scheduler;

/// How long `console` waits at end of input for announcements to print.
const CONSOLE_DRAIN: Duration = Duration::from_secs(10);

/// The assembled bot: ledger, router and what they need.
pub struct Bot {
    pub config: Config,
    pub ledger: Ledger,
    pub router: Arc<Router>,
    pub health: HealthBoard,
    /// Long replies kept for a day (`GET /r/{id}`), for folded IRC output.
    pub pages: pages::Pages,
    /// The Discord adapter, shared by the gateway and the HTTP interactions
    /// endpoint.
    #[cfg(feature = "discord")]
    pub discord: Option<Arc<adapter::discord::Discord>>,
}

impl Bot {
    /// Opens the ledger in the configured data dir and makes sure every
    /// configured tree exists.
    pub async fn open(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Bot> {
        metrics::install();
        std::fs::create_dir_all(&config.bot.data_dir)
            .with_context(|| format!("cannot create data dir {}", config.bot.data_dir.display()))?;
        let ledger = Ledger::open(&config.bot.data_dir)?;
        let directory = Arc::new(Directory::from_config(&config));
        let settings = Arc::new(config.settings());
        let pages = pages::Pages::new(clock.clone());
        let router = Arc::new(
            Router::new(
                ledger.clone(),
                directory,
                settings,
                config.announce.clone(),
                config.bot.name.clone(),
                clock,
            )
            .with_limits(
                config.bot.rate_limit_burst,
                config.bot.rate_limit_per_minute,
            ),
        );
        #[cfg(feature = "discord")]
        let discord = match config.adapters.discord.clone() {
            Some(c) => Some(Arc::new(
                adapter::discord::Discord::new(c, router.clone())
                    .map_err(|e| anyhow::anyhow!("adapters.discord: {e}"))?,
            )),
            None => None,
        };
        let bot = Bot {
            config,
            ledger,
            router,
            health: HealthBoard::default(),
            pages,
            #[cfg(feature = "discord")]
            discord,
        };
        bot.ensure_trees().await?;
        Ok(bot)
    }

    async fn ensure_trees(&self) -> anyhow::Result<()> {
        let names = self.config.trees.names.clone();
        let now = self.router.clock().now();
        self.ledger
            .transact(move |state, _, _| {
                let changes: Vec<Change> = names
                    .iter()
                    .filter(|n| state.trees.get(n).is_none())
                    .map(|n| {
                        Change::Tree(signalbox_commands::tree::Change::Add {
                            tree: TreeName::new(n),
                        })
                    })
                    .collect();
                let draft = Draft {
                    at: now,
                    actor: Actor::scheduler("config"),
                    changes,
                    outbox: Vec::new(),
                };
                (Some(draft), ())
            })
            .await?;
        Ok(())
    }

    pub fn scheduler(&self) -> Scheduler {
        Scheduler::new(
            self.router.clone(),
            self.config.reminders.clone(),
            self.config.bot.timezone,
        )
    }

    pub fn http_state(&self) -> http::AppState {
        http::AppState {
            ledger: self.ledger.clone(),
            router: self.router.clone(),
            health: self.health.clone(),
            timezone: self.config.bot.timezone,
            settings: self.router.settings().clone(),
            clock: self.router.clock().clone(),
            calendar: Arc::new(http::calendar::Calendars::new(
                self.config.http.calendar_token.clone(),
                self.config
                    .people
                    .iter()
                    .filter_map(|(name, p)| {
                        p.email
                            .clone()
                            .map(|e| (signalbox_commands::PersonId::new(name), e))
                    })
                    .collect(),
            )),
            pages: self.pages.clone(),
            #[cfg(feature = "slack")]
            slack: http::slack::Endpoint::from_config(&self.config, &self.router, &self.health),
            #[cfg(feature = "discord")]
            discord: self.discord.clone(),
        }
    }

    /// Starts outbox delivery for an adapter.
    pub fn deliver(
        &self,
        adapter: Arc<dyn Adapter>,
        shutdown: &CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(outbox::deliver(
            self.ledger.clone(),
            adapter,
            shutdown.clone(),
        ))
    }
}

/// `signalbox run`: every adapter, the HTTP server and the scheduler, until
/// `stop`. Then, for up to `[bot] drain_seconds`, announcements still queued
/// for a connected network are delivered before everything shuts down (what
/// SIGTERM from systemd or a container runtime does). The console reads
/// stdin only when it is a terminal.
pub async fn run(
    config: Config,
    console_input: bool,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let console_as = config.bot.console_as.as_ref().map(|p| p.get_ref().clone());
    let listen = config.http.listen;
    let http_enabled = config.http.enabled;
    let drain = Duration::from_secs(config.bot.drain_seconds);
    let backup = config.backup.clone();
    let bot = Bot::open(config, Arc::new(SystemClock)).await?;
    let shutdown = CancellationToken::new();
    let console = Arc::new(Console::new(
        PlatformUserId::new(console_as.clone().unwrap_or_else(|| "console".to_string())),
        Box::new(std::io::stdout()),
    ));
    let mut tasks = vec![
        bot.deliver(console.clone(), &shutdown),
        tokio::spawn(bot.scheduler().run(shutdown.clone())),
        tokio::spawn(adapter::supervise(
            console.clone(),
            bot.router.clone(),
            bot.health.clone(),
            shutdown.clone(),
        )),
    ];
    tasks.extend(adapter::start_configured(&bot, &shutdown));
    if let Some(backup) = backup {
        tasks.push(tokio::spawn(backup::schedule(
            bot.ledger.clone(),
            backup,
            bot.config.bot.timezone,
            bot.router.clock().clone(),
            shutdown.clone(),
        )));
    }
    if http_enabled {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let addr = listener.local_addr()?;
        tracing::info!("http listening on http://{addr}");
        eprintln!("signalbox: http listening on http://{addr}");
        let state = bot.http_state();
        let stop = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            if let Err(e) = http::serve(listener, state, stop).await {
                tracing::error!("http server failed: {e}");
            }
        }));
    }
    if console_input {
        let router = bot.router.clone();
        let stop = shutdown.clone();
        let console = console.clone();
        tasks.push(tokio::spawn(async move {
            let stdin = tokio::io::BufReader::new(tokio::io::stdin());
            console.serve(&router, stdin, &stop).await;
        }));
    }
    stop.cancelled().await;
    if !drained(&bot, drain).await {
        tracing::warn!(
            "announcements still queued after {}s; they are kept and sent after the next start",
            drain.as_secs()
        );
    }
    shutdown.cancel();
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    }
    Ok(())
}

/// Waits (up to `limit`) until no announcement is queued for a network whose
/// adapter is connected; a network that is down cannot drain, so it is not
/// waited for.
async fn drained(bot: &Bot, limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let connected = bot.health.snapshot();
        let waiting = match bot.ledger.pending(None) {
            Ok(entries) => entries.iter().any(|e| {
                let network = e.to.network();
                network == Network::Console
                    || connected
                        .get(&network)
                        .is_some_and(|h| h.state == "connected")
            }),
            Err(_) => return false,
        };
        if !waiting {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `signalbox console`: every stdin line is a command from `person`; returns
/// at end of input once every change is durable and every console
/// announcement printed.
pub async fn console(config: Config, person: String) -> anyhow::Result<()> {
    let bot = Bot::open(config, Arc::new(SystemClock)).await?;
    let shutdown = CancellationToken::new();
    let console = Arc::new(Console::new(
        PlatformUserId::new(person),
        Box::new(std::io::stdout()),
    ));
    let delivery = bot.deliver(console.clone(), &shutdown);
    let scheduler = tokio::spawn(bot.scheduler().run(shutdown.clone()));
    let stdin = tokio::io::BufReader::new(tokio::io::stdin());
    console.serve(&bot.router, stdin, &shutdown).await;
    if !outbox::drained(&bot.ledger, Network::Console, CONSOLE_DRAIN).await {
        tracing::warn!("some console announcements were not printed in time; they stay queued");
    }
    shutdown.cancel();
    let _ = delivery.await;
    let _ = scheduler.await;
    Ok(())
}
