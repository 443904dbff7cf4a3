//! The IRC adapter. It speaks IRCv3 to one server: registration with
//! `CAP LS 302`, the capabilities that carry identity (`account-tag`,
//! `extended-join`, `account-notify`, plus `message-tags` and
//! `server-time`), SASL PLAIN or EXTERNAL, nick fallback, channels with
//! keys, rejoin after a kick, and reconnects with exponential backoff and
//! jitter on any disconnect or ping timeout.
//!
//! Messages are parsed with the `irc` crate's protocol types, but the
//! connection is our own: the crate's client cannot set TCP_NODELAY, stops
//! on the first line that is not UTF-8, and ignores its own flood settings.
//! Here every line the bot writes is built by [`line`] (no CR/LF/NUL from
//! any text, nothing over 512 bytes, long output folded) and paced by the
//! connection's [`Budget`].
//!
//! Identity comes from services accounts only ([`accounts`]); a user who is
//! not logged in reaches the router as `nick:NAME`, which no account can
//! be, so the core treats them as a guest.

pub mod accounts;
mod config;
pub mod connection;
pub mod line;

use std::collections::{BTreeSet, HashMap};
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use irc::proto::{Command, Message, Response};
use signalbox_commands::{ChannelAddr, Network, PlatformUserId};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use self::accounts::{Accounts, account_field, fold};
pub use self::config::{Channel, Config, KeyedChannel, Mechanism, Sasl};
use super::budget::Budget;
use super::{Adapter, HealthBoard, SendError};
use crate::backoff::Backoff;
use crate::outbox::Destination;
use crate::router::{Inbound, Router};

/// The capabilities the bot asks for when the server offers them.
const WANTED_CAPS: [&str; 5] = [
    "account-tag",
    "extended-join",
    "account-notify",
    "message-tags",
    "server-time",
];
/// Caps on what a server may announce as USERLEN and HOSTLEN (a DNS name is
/// at most 253 bytes): past them, the prefix the bot reserves room for would
/// leave no room for text, and an absurd announcement would silence the bot.
const MAX_USERLEN: usize = 64;
const MAX_HOSTLEN: usize = 253;
/// SASL payloads are sent in chunks of this many bytes.
const SASL_CHUNK: usize = 400;
/// How long registration may take before the connection is given up.
const REGISTRATION_TIMEOUT: Duration = Duration::from_secs(60);
/// A session that lasted this long resets the reconnect backoff.
const STABLE_SESSION: Duration = Duration::from_secs(30);
/// The retry delay while the server is up but its services are not: they
/// usually relink within seconds of a restart.
const SERVICES_RETRY: Duration = Duration::from_secs(1);
const REJOIN_DELAY: Duration = Duration::from_secs(1);
const TOPIC_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a session ended.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("tls: {0}")]
    Tls(String),
    #[error("server closed the connection: {0}")]
    Closed(String),
    #[error("sasl: {0}")]
    Sasl(String),
    /// The server is up but its services are not linked (no sasl offered).
    #[error("the server does not offer sasl now (are its services linked?)")]
    ServicesDown,
    #[error("no nick left to try: {0}")]
    Nick(String),
    #[error("no reply from the server for {0:?}")]
    PingTimeout(Duration),
    #[error("registration did not finish within {0:?}")]
    Registration(Duration),
}

/// Why a topic could not be set; the text is for the user. `offline`: the
/// bot is not connected or not (yet) back in the channel, so trying again
/// once it is may work; otherwise the network said no.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TopicError {
    pub message: String,
    pub offline: bool,
}

impl TopicError {
    fn refused(message: String) -> Self {
        Self {
            message,
            offline: false,
        }
    }

    fn offline(message: String) -> Self {
        Self {
            message,
            offline: true,
        }
    }
}

/// One line for the writer task; `done` fires once it is on the socket.
struct Out {
    line: String,
    done: Option<oneshot::Sender<()>>,
}

type Lines = mpsc::UnboundedSender<Out>;

#[derive(Default)]
struct Shared {
    /// The writer of the live, registered session.
    lines: Option<Lines>,
    nick: String,
    /// ISUPPORT limits for the longest `nick!user@host` the server may put
    /// in front of our lines.
    userlen: usize,
    hostlen: usize,
    /// Folded names of the channels the bot is in.
    joined: BTreeSet<String>,
    accounts: Accounts,
    /// Whether the server tags messages with the sender's account.
    account_tag: bool,
    /// Waiters for a TOPIC the bot set, by folded channel.
    topics: HashMap<String, oneshot::Sender<Result<(), TopicError>>>,
}

impl Shared {
    fn source_len(&self) -> usize {
        // nick!~user@host
        self.nick.len() + 2 + self.userlen + 1 + self.hostlen
    }
}

pub struct Irc {
    config: Config,
    budget: Budget,
    health: Option<HealthBoard>,
    /// The dashboard, linked from folded output when there is no page store.
    more_at: String,
    /// Where folded output is kept in full, linked as `{more_at}r/{id}`.
    pages: Option<crate::pages::Pages>,
    shared: Mutex<Shared>,
    /// Fires whenever the set of joined channels changes.
    joins: tokio::sync::watch::Sender<usize>,
}

impl Irc {
    /// `more_at` is the dashboard link shown when output is folded.
    pub fn new(config: Config, health: Option<HealthBoard>, more_at: String) -> Self {
        connection::install_crypto_provider();
        let budget = Budget::new(config.budget.clone());
        let nick = config.nick.clone();
        Self {
            config,
            budget,
            health,
            more_at,
            pages: None,
            shared: Mutex::new(Shared {
                nick,
                userlen: 11,
                hostlen: 64,
                ..Shared::default()
            }),
            joins: tokio::sync::watch::channel(0).0,
        }
    }

    /// Folded output links to its whole text kept in `pages` (at
    /// `/r/{id}` under `more_at`, the HTTP server's address).
    pub fn with_pages(mut self, pages: crate::pages::Pages) -> Self {
        self.pages = Some(pages);
        self
    }

    fn shared(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared
            .lock()
            .expect("irc state lock is never poisoned: no panics while held")
    }

    /// The bot's current nick.
    pub fn nick(&self) -> String {
        self.shared().nick.clone()
    }

    /// Whether a registered session is live.
    pub fn is_connected(&self) -> bool {
        self.shared().lines.is_some()
    }

    /// Whether the bot is in `channel` right now.
    pub fn is_joined(&self, channel: &str) -> bool {
        self.shared().joined.contains(&fold(channel))
    }

    /// Waits (up to `limit`) until the bot is in every configured channel.
    pub async fn joined_all(&self, limit: Duration) -> bool {
        let mut rx = self.joins.subscribe();
        let deadline = Instant::now() + limit;
        loop {
            let all = {
                let shared = self.shared();
                shared.lines.is_some()
                    && self
                        .config
                        .channels
                        .iter()
                        .all(|c| shared.joined.contains(&fold(c.name())))
            };
            if all {
                return true;
            }
            if tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_err()
            {
                return false;
            }
        }
    }

    /// Whether `channel` is one of `adapters.irc.channels` (the bot joins
    /// it, and rejoins it after a reconnect or a kick).
    fn configured(&self, channel: &str) -> bool {
        self.config
            .channels
            .iter()
            .any(|k| fold(k.name()) == fold(channel))
    }

    fn changed_joins(&self) {
        self.joins.send_modify(|n| *n += 1);
    }

    fn set_health(&self, state: &'static str, error: Option<String>) {
        if let Some(h) = &self.health {
            h.set(Network::Irc, state, error);
        }
    }

    /// Says `text` to `target` (channel or nick) with PRIVMSG, paced by the
    /// budget; returns once every line is on the socket.
    async fn say(&self, target: &str, text: &str, lines: &Lines) -> Result<(), SendError> {
        let (source_len, text) = {
            let shared = self.shared();
            (shared.source_len(), shared.accounts.render(text))
        };
        let text = text.as_str();
        if !line::is_target("PRIVMSG", target, source_len) {
            return Err(SendError::Rejected(format!(
                "\"{target}\" is not a channel or nick the bot can write to"
            )));
        }
        let max_lines = self.config.max_lines;
        let unfolded = line::messages("PRIVMSG", target, text, source_len, 0, "").len();
        let more_at = match &self.pages {
            // Too long for one go: keep the whole text and link to it.
            Some(pages) if max_lines > 0 && unfolded > max_lines => format!(
                "{}/r/{}",
                self.more_at.trim_end_matches('/'),
                pages.keep(text)
            ),
            _ => self.more_at.clone(),
        };
        let wire = line::messages("PRIVMSG", target, text, source_len, max_lines, &more_at);
        let mut last = None;
        for l in wire {
            self.budget.take().await;
            let (tx, rx) = oneshot::channel();
            lines
                .send(Out {
                    line: l,
                    done: Some(tx),
                })
                .map_err(|_| SendError::Disconnected)?;
            last = Some(rx);
        }
        match last {
            Some(rx) => rx.await.map_err(|_| SendError::Disconnected),
            None => Ok(()),
        }
    }

    /// Sets a channel's topic. Fails with a message for the user when the
    /// bot is not in the channel or lacks the right (ops, or `-t`).
    pub async fn set_topic(&self, channel: &str, topic: &str) -> Result<(), TopicError> {
        let key = fold(channel);
        let (lines, rx) = {
            let mut shared = self.shared();
            let Some(lines) = shared.lines.clone() else {
                return Err(TopicError::offline(format!(
                    "cannot set the topic of {channel}: not connected to irc"
                )));
            };
            if !shared.joined.contains(&key) {
                let message =
                    format!("cannot set the topic of {channel}: the bot is not in that channel");
                // A configured channel is being (re)joined.
                return Err(if self.configured(channel) {
                    TopicError::offline(message)
                } else {
                    TopicError::refused(message)
                });
            }
            let (tx, rx) = oneshot::channel();
            shared.topics.insert(key.clone(), tx);
            (lines, rx)
        };
        let text = line::clean_lines(topic).join(" ");
        self.budget.take().await;
        let sent = lines.send(Out {
            line: line::command("TOPIC", &[channel], Some(&text)),
            done: None,
        });
        if sent.is_err() {
            self.shared().topics.remove(&key);
            return Err(TopicError::offline(format!(
                "cannot set the topic of {channel}: disconnected"
            )));
        }
        match tokio::time::timeout(TOPIC_TIMEOUT, rx).await {
            Ok(Ok(result)) => result,
            // The waiter went with the session: disconnected meanwhile.
            Ok(Err(_)) => Err(TopicError::offline(format!(
                "cannot set the topic of {channel}: disconnected"
            ))),
            Err(_) => {
                self.shared().topics.remove(&key);
                Err(TopicError::refused(format!(
                    "cannot set the topic of {channel}: the server did not confirm it"
                )))
            }
        }
    }

    async fn session(
        self: &Arc<Self>,
        router: &Arc<Router>,
        shutdown: &CancellationToken,
        registered: &mut bool,
    ) -> Result<(), SessionError> {
        let (reader, writer) = connection::connect(&self.config).await?;
        let (in_tx, mut inbound) = mpsc::channel(1024);
        let reader_task = tokio::spawn(connection::read_lines(reader, in_tx));
        let (out_tx, out_rx) = mpsc::unbounded_channel::<Out>();
        let mut writer_task = tokio::spawn(write_lines(writer, out_rx));
        let stop = CancellationToken::new();
        let _stop_on_drop = stop.clone().drop_guard();
        let result = async {
            let mut reg = Registration::new(&self.config);
            let raw = |line: String| {
                out_tx
                    .send(Out { line, done: None })
                    .map_err(|_| SessionError::Closed("writer stopped".into()))
            };
            raw(line::command("CAP", &["LS", "302"], None))?;
            if let Some(p) = &self.config.password {
                raw(line::command("PASS", &[], Some(p.expose())))?;
            }
            raw(line::command("NICK", &[&self.config.nick], None))?;
            raw(line::command(
                "USER",
                &[self.config.username(), "0", "*"],
                Some(self.config.realname.as_deref().unwrap_or("signalbox")),
            ))?;
            self.budget.refill().await;
            let ping = Duration::from_secs(self.config.ping_secs);
            let started = Instant::now();
            let mut last_heard = Instant::now();
            let mut pinged = false;
            loop {
                let idle_deadline = last_heard + if pinged { ping * 2 } else { ping };
                let received = tokio::select! {
                    _ = shutdown.cancelled() => {
                        let _ = raw(line::command("QUIT", &[], Some("shutting down")));
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        return Ok(());
                    }
                    r = &mut writer_task => {
                        return Err(match r {
                            Ok(Err(e)) => SessionError::Io(e),
                            _ => SessionError::Closed("writer stopped".into()),
                        });
                    }
                    _ = tokio::time::sleep_until(idle_deadline) => None,
                    line = inbound.recv() => Some(line),
                };
                let text = match received {
                    None if pinged => return Err(SessionError::PingTimeout(ping * 2)),
                    None => {
                        pinged = true;
                        raw(line::command("PING", &["signalbox"], None))?;
                        continue;
                    }
                    Some(None) => return Err(SessionError::Closed("end of stream".into())),
                    Some(Some(Err(e))) => return Err(SessionError::Io(e)),
                    Some(Some(Ok(text))) => text,
                };
                last_heard = Instant::now();
                pinged = false;
                if !reg.done && started.elapsed() > REGISTRATION_TIMEOUT {
                    return Err(SessionError::Registration(REGISTRATION_TIMEOUT));
                }
                let message: Message = match text.parse() {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::debug!("ignoring unparsable line from the server: {e}");
                        continue;
                    }
                };
                self.handle(message, &mut reg, &out_tx, router, &stop)?;
                if reg.done && !*registered {
                    *registered = true;
                }
            }
        }
        .await;
        reader_task.abort();
        writer_task.abort();
        result
    }

    /// Handles one message from the server.
    fn handle(
        self: &Arc<Self>,
        msg: Message,
        reg: &mut Registration,
        out: &Lines,
        router: &Arc<Router>,
        stop: &CancellationToken,
    ) -> Result<(), SessionError> {
        let raw = |line: String| {
            out.send(Out { line, done: None })
                .map_err(|_| SessionError::Closed("writer stopped".into()))
        };
        let source = msg.source_nickname().map(str::to_string);
        let me = self.nick();
        let is_me = |n: &Option<String>| n.as_deref().is_some_and(|n| fold(n) == fold(&me));
        match &msg.command {
            Command::PING(token, _) => raw(line::command("PONG", &[], Some(token)))?,
            Command::ERROR(text) => return Err(SessionError::Closed(text.clone())),
            Command::CAP(_, sub, a, b) => {
                let (more, list) = match (a, b) {
                    (Some(star), Some(list)) if star == "*" => (true, list.as_str()),
                    (Some(list), None) => (false, list.as_str()),
                    (_, Some(list)) => (false, list.as_str()),
                    _ => (false, ""),
                };
                match sub.to_str() {
                    "LS" => {
                        reg.offered
                            .extend(list.split_whitespace().map(str::to_string));
                        if !more {
                            for l in reg.after_ls(&self.config)? {
                                raw(l)?;
                            }
                        }
                    }
                    "ACK" => {
                        let acked: Vec<&str> = list.split_whitespace().collect();
                        self.shared().account_tag |= acked.contains(&"account-tag");
                        if acked.contains(&"sasl") {
                            let mech = match reg.mechanism {
                                Some(Mechanism::External) => "EXTERNAL",
                                _ => "PLAIN",
                            };
                            raw(line::command("AUTHENTICATE", &[mech], None))?;
                        } else if !reg.sasl_pending() {
                            raw(line::command("CAP", &["END"], None))?;
                        }
                    }
                    "NAK" => {
                        if reg.mechanism.is_some() {
                            return Err(SessionError::Sasl(format!(
                                "the server refused the capabilities \"{list}\""
                            )));
                        }
                        raw(line::command("CAP", &["END"], None))?;
                    }
                    _ => {}
                }
            }
            Command::AUTHENTICATE(challenge) if challenge == "+" => {
                for l in reg.sasl_payload(&self.config) {
                    raw(l)?;
                }
            }
            Command::Response(code, args) => {
                self.response(*code, args, reg, out, &raw)?;
            }
            Command::JOIN(channel, account, _) => {
                if let Some(nick) = &source {
                    if is_me(&source) {
                        self.shared().joined.insert(fold(channel));
                        self.changed_joins();
                        if reg.whox && line::is_word(channel) {
                            let lines = out.clone();
                            let channel = channel.clone();
                            let this = self.clone();
                            tokio::spawn(async move {
                                this.budget.take().await;
                                let _ = lines.send(Out {
                                    line: line::command("WHO", &[&channel, "%tna,42"], None),
                                    done: None,
                                });
                            });
                        }
                    } else if let Some(account) = account {
                        // extended-join: the account (or *) on every join.
                        self.shared().accounts.set(nick, account_field(account));
                    }
                }
            }
            Command::ACCOUNT(account) => {
                if let Some(nick) = &source {
                    self.shared().accounts.set(nick, account_field(account));
                }
            }
            Command::NICK(new) => {
                if let Some(old) = &source {
                    let mut shared = self.shared();
                    shared.accounts.rename(old, new);
                    if fold(old) == fold(&shared.nick) {
                        shared.nick = new.clone();
                    }
                }
            }
            Command::QUIT(_) => {
                if let Some(nick) = &source {
                    self.shared().accounts.remove(nick);
                }
            }
            Command::KICK(channel, victim, _) if fold(victim) == fold(&me) => {
                self.shared().joined.remove(&fold(channel));
                self.changed_joins();
                tracing::warn!(channel, "kicked; rejoining");
                let key = self
                    .config
                    .channels
                    .iter()
                    .find(|c| fold(c.name()) == fold(channel))
                    .and_then(|c| c.key().map(str::to_string));
                let join = join_line(channel, key.as_deref());
                let lines = out.clone();
                let this = self.clone();
                let stop = stop.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(REJOIN_DELAY) => {}
                    }
                    this.budget.take().await;
                    let _ = lines.send(Out {
                        line: join,
                        done: None,
                    });
                });
            }
            Command::Raw(code, args) if code == "354" && args.get(1).is_some_and(|t| t == "42") => {
                // WHOX reply to `WHO #chan %tna,42`: me 42 nick account.
                if let (Some(nick), Some(account)) = (args.get(2), args.get(3)) {
                    self.shared().accounts.set(nick, account_field(account));
                }
            }
            Command::PART(channel, _) if is_me(&source) => {
                self.shared().joined.remove(&fold(channel));
                self.changed_joins();
            }
            Command::TOPIC(channel, Some(_)) if is_me(&source) => {
                if let Some(tx) = self.shared().topics.remove(&fold(channel)) {
                    let _ = tx.send(Ok(()));
                }
            }
            Command::PRIVMSG(..) => {
                let read = {
                    let shared = self.shared();
                    read_privmsg(&msg, &me, shared.account_tag, &shared.accounts)
                };
                let Some((inbound, reply_to)) = read else {
                    return Ok(());
                };
                let this = self.clone();
                let router = router.clone();
                let lines = out.clone();
                tokio::spawn(async move {
                    if let Some(reply) = router.dispatch(&inbound).await
                        && let Err(e) = this.say(&reply_to, &reply, &lines).await
                    {
                        tracing::warn!(to = %reply_to, "reply not sent: {e}");
                    }
                });
            }
            _ => {}
        }
        Ok(())
    }

    fn response(
        self: &Arc<Self>,
        code: Response,
        args: &[String],
        reg: &mut Registration,
        out: &Lines,
        raw: &dyn Fn(String) -> Result<(), SessionError>,
    ) -> Result<(), SessionError> {
        let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or("");
        match code {
            Response::RPL_WELCOME => {
                reg.done = true;
                {
                    let mut shared = self.shared();
                    shared.nick = arg(0).to_string();
                    shared.joined.clear();
                    shared.accounts.clear();
                    shared.lines = Some(out.clone());
                }
                tracing::info!(nick = arg(0), "registered on irc");
                self.set_health("connected", None);
                let joins: Vec<String> = self
                    .config
                    .channels
                    .iter()
                    .map(|c| join_line(c.name(), c.key()))
                    .collect();
                let lines = out.clone();
                let this = self.clone();
                tokio::spawn(async move {
                    for join in joins {
                        this.budget.take().await;
                        if lines
                            .send(Out {
                                line: join,
                                done: None,
                            })
                            .is_err()
                        {
                            return;
                        }
                    }
                });
            }
            Response::RPL_ISUPPORT => {
                let mut shared = self.shared();
                for token in args.iter().skip(1) {
                    let (key, value) = token.split_once('=').unwrap_or((token, ""));
                    match key {
                        "WHOX" => reg.whox = true,
                        "USERLEN" => {
                            if let Ok(n) = value.parse::<usize>() {
                                shared.userlen = n.min(MAX_USERLEN) + 1;
                            }
                        }
                        "HOSTLEN" => {
                            if let Ok(n) = value.parse::<usize>() {
                                shared.hostlen = n.min(MAX_HOSTLEN);
                            }
                        }
                        _ => {}
                    }
                }
            }
            Response::ERR_NICKNAMEINUSE
            | Response::ERR_ERRONEOUSNICKNAME
            | Response::ERR_UNAVAILRESOURCE
                if !reg.done =>
            {
                let next = reg.next_nick(&self.config)?;
                self.shared().nick = next.clone();
                raw(line::command("NICK", &[&next], None))?;
            }
            Response::RPL_SASLSUCCESS => {
                reg.sasl_done = true;
                raw(line::command("CAP", &["END"], None))?;
            }
            Response::ERR_NICKLOCKED
            | Response::ERR_SASLFAIL
            | Response::ERR_SASLTOOLONG
            | Response::ERR_SASLABORT
            | Response::ERR_SASLALREADY
            | Response::RPL_SASLMECHS => {
                let text = args.last().cloned().unwrap_or_default();
                return Err(SessionError::Sasl(format!(
                    "authentication failed ({}): {text}",
                    code as u16
                )));
            }
            Response::ERR_CHANOPRIVSNEEDED => {
                if let Some(tx) = self.shared().topics.remove(&fold(arg(1))) {
                    let _ = tx.send(Err(TopicError::refused(format!(
                        "cannot set the topic of {}: the bot needs channel operator status there (or the channel's topic lock, mode +t, off)",
                        arg(1)
                    ))));
                }
            }
            Response::ERR_NOTONCHANNEL => {
                if let Some(tx) = self.shared().topics.remove(&fold(arg(1))) {
                    let message = format!(
                        "cannot set the topic of {}: the bot is not in that channel",
                        arg(1)
                    );
                    let _ = tx.send(Err(if self.configured(arg(1)) {
                        TopicError::offline(message)
                    } else {
                        TopicError::refused(message)
                    }));
                }
            }
            Response::ERR_BANNEDFROMCHAN
            | Response::ERR_INVITEONLYCHAN
            | Response::ERR_BADCHANNELKEY
            | Response::ERR_CHANNELISFULL
            | Response::ERR_NOCHANMODES => {
                tracing::warn!(
                    channel = arg(1),
                    "cannot join: {}",
                    args.last().map(String::as_str).unwrap_or("")
                );
            }
            _ => {}
        }
        Ok(())
    }

    fn disconnected(&self) {
        let mut shared = self.shared();
        shared.lines = None;
        shared.joined.clear();
        shared.accounts.clear();
        shared.topics.clear();
        drop(shared);
        self.changed_joins();
    }
}

/// What a PRIVMSG from the server asks of the bot: the inbound message for
/// the router and where a reply goes (the channel, or the sender's nick for
/// a DM). `None` for the bot's own echo, CTCP, and lines without a sender.
/// The sender is the services account from the `account` tag when the
/// server tags messages (`account_tag`), else from `accounts`; a nick not
/// logged in becomes `nick:NAME`, which no account can be.
pub fn read_privmsg(
    msg: &Message,
    me: &str,
    account_tag: bool,
    accounts: &Accounts,
) -> Option<(Inbound, String)> {
    let Command::PRIVMSG(target, text) = &msg.command else {
        return None;
    };
    let nick = msg.source_nickname()?.to_string();
    if fold(&nick) == fold(me) || text.starts_with('\x01') {
        // Our own echo, or CTCP (ACTION, VERSION…): not commands.
        return None;
    }
    let tag = |name: &str| {
        msg.tags
            .as_ref()
            .and_then(|tags| tags.iter().find(|t| t.0 == name).and_then(|t| t.1.clone()))
    };
    let account = if account_tag {
        tag("account").and_then(|a| account_field(&a))
    } else {
        accounts.account(&nick).map(str::to_string)
    };
    let to_channel = target.starts_with(['#', '&']);
    let inbound = Inbound {
        network: Network::Irc,
        channel: to_channel.then(|| ChannelAddr::new(Network::Irc, target.clone())),
        user: match account {
            Some(a) => PlatformUserId::new(a),
            None => PlatformUserId::new(format!("nick:{nick}")),
        },
        text: text.clone(),
        id: tag("msgid"),
        aliases: accounts.aliases(text),
    };
    let reply_to = if to_channel { target.clone() } else { nick };
    Some((inbound, reply_to))
}

fn join_line(channel: &str, key: Option<&str>) -> String {
    match key {
        Some(k) => line::command("JOIN", &[channel, k], None),
        None => line::command("JOIN", &[channel], None),
    }
}

/// Writes lines as they come, several per syscall when they queue up, and
/// reports each written line.
async fn write_lines(
    mut writer: connection::Writer,
    mut rx: mpsc::UnboundedReceiver<Out>,
) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    while let Some(first) = rx.recv().await {
        let mut buf = first.line.into_bytes();
        let mut done = vec![first.done];
        while buf.len() < 16 * 1024 {
            match rx.try_recv() {
                Ok(next) => {
                    buf.extend_from_slice(next.line.as_bytes());
                    done.push(next.done);
                }
                Err(_) => break,
            }
        }
        writer.write_all(&buf).await?;
        writer.flush().await?;
        for d in done.into_iter().flatten() {
            let _ = d.send(());
        }
    }
    let _ = writer.shutdown().await;
    Ok(())
}

/// Where registration stands: capabilities, SASL, nick attempts.
struct Registration {
    offered: Vec<String>,
    mechanism: Option<Mechanism>,
    sasl_done: bool,
    nick_attempt: usize,
    whox: bool,
    done: bool,
}

impl Registration {
    fn new(config: &Config) -> Self {
        Self {
            offered: Vec::new(),
            mechanism: config.sasl.as_ref().map(|s| s.mechanism),
            sasl_done: false,
            nick_attempt: 0,
            whox: false,
            done: false,
        }
    }

    fn sasl_pending(&self) -> bool {
        self.mechanism.is_some() && !self.sasl_done
    }

    /// The CAP REQ (or CAP END) once the whole LS list is in.
    fn after_ls(&self, config: &Config) -> Result<Vec<String>, SessionError> {
        let offered = |name: &str| -> Option<&str> {
            self.offered.iter().find_map(|c| {
                let (n, v) = c.split_once('=').unwrap_or((c, ""));
                (n == name).then_some(v)
            })
        };
        let mut wanted: Vec<&str> = WANTED_CAPS
            .iter()
            .copied()
            .filter(|c| offered(c).is_some())
            .collect();
        if let Some(sasl) = &config.sasl {
            let mech = match sasl.mechanism {
                Mechanism::Plain => "PLAIN",
                Mechanism::External => "EXTERNAL",
            };
            match offered("sasl") {
                Some(list)
                    if list.is_empty() || list.split(',').any(|m| m.eq_ignore_ascii_case(mech)) =>
                {
                    wanted.push("sasl")
                }
                Some(list) => {
                    return Err(SessionError::Sasl(format!(
                        "the server offers {list}, not {mech}"
                    )));
                }
                None => return Err(SessionError::ServicesDown),
            }
        }
        if wanted.is_empty() {
            return Ok(vec![line::command("CAP", &["END"], None)]);
        }
        Ok(vec![line::command(
            "CAP",
            &["REQ"],
            Some(&wanted.join(" ")),
        )])
    }

    fn sasl_payload(&self, config: &Config) -> Vec<String> {
        let payload = match (&config.sasl, self.mechanism) {
            (Some(sasl), Some(Mechanism::Plain)) => {
                let account = sasl.account.as_deref().unwrap_or("");
                let password = sasl.password.as_ref().map_or("", |p| p.expose());
                base64(format!("{account}\0{account}\0{password}").as_bytes())
            }
            _ => String::new(),
        };
        let mut out: Vec<String> = payload
            .as_bytes()
            .chunks(SASL_CHUNK)
            .map(|c| {
                let chunk = std::str::from_utf8(c).expect("base64 output is ASCII");
                line::command("AUTHENTICATE", &[chunk], None)
            })
            .collect();
        if payload.len() % SASL_CHUNK == 0 {
            out.push(line::command("AUTHENTICATE", &["+"], None));
        }
        out
    }

    fn next_nick(&mut self, config: &Config) -> Result<String, SessionError> {
        self.nick_attempt += 1;
        let n = self.nick_attempt;
        if let Some(alt) = config.alt_nicks.get(n - 1) {
            return Ok(alt.clone());
        }
        let extra = n - config.alt_nicks.len();
        if extra > 9 {
            return Err(SessionError::Nick(format!(
                "\"{}\" and every alternative are taken",
                config.nick
            )));
        }
        Ok(format!("{}{}", config.nick, "_".repeat(extra)))
    }
}

/// Standard base64 with padding (for SASL).
fn base64(input: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(TABLE[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A delay between `base / 2` and `base`, so that many bots do not return
/// to a server at the same instant.
fn jitter(base: Duration) -> Duration {
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let half = base / 2;
    half + Duration::from_nanos(random % (half.as_nanos().max(1) as u64))
}

#[async_trait]
impl Adapter for Irc {
    fn network(&self) -> Network {
        Network::Irc
    }

    /// Connects, serves, and reconnects with backoff until `shutdown`.
    async fn run(
        self: Arc<Self>,
        router: Arc<Router>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let min = Duration::from_millis(self.config.reconnect_min_ms);
        let max = Duration::from_millis(self.config.reconnect_max_ms);
        let mut backoff = Backoff::new(min, max);
        loop {
            let started = Instant::now();
            let mut registered = false;
            let result = self.session(&router, &shutdown, &mut registered).await;
            self.disconnected();
            if shutdown.is_cancelled() {
                return Ok(());
            }
            if registered && started.elapsed() >= STABLE_SESSION {
                backoff.succeeded();
            }
            let services_down = matches!(result, Err(SessionError::ServicesDown));
            let error = match result {
                Ok(()) => "connection closed".to_string(),
                Err(e) => e.to_string(),
            };
            let wait = if services_down {
                backoff.succeeded();
                jitter(SERVICES_RETRY)
            } else {
                jitter(backoff.failed())
            };
            tracing::warn!(server = %self.config.server, "irc disconnected: {error}; reconnecting in {wait:?}");
            self.set_health("reconnecting", Some(error));
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    async fn send(&self, to: &Destination, text: &str) -> Result<(), SendError> {
        if let Destination::Topic(c) = to {
            return match self
                .set_topic(c.channel(), &signalbox_commands::mention::plain(text))
                .await
            {
                Ok(()) => Ok(()),
                // Not connected, or not back in the channel yet: the outbox
                // tries again once the network is back.
                Err(e) if e.offline => Err(SendError::Disconnected),
                // A topic the bot may not set (no ops, topic lock) will not
                // become settable by retrying: refused for good, as every
                // network says it, so the outbox logs, counts and drops it
                // and the announcements queued behind it are not held up.
                Err(e) => Err(SendError::Rejected(e.to_string())),
            };
        }
        let (target, lines) = {
            let shared = self.shared();
            let lines = shared.lines.clone().ok_or(SendError::Disconnected)?;
            let target = match to {
                Destination::Topic(_) => unreachable!("topics are handled above"),
                Destination::Channel(c) => {
                    if !shared.joined.contains(&fold(c.channel())) {
                        return Err(if self.configured(c.channel()) {
                            // Rejoining after a reconnect or kick: retry.
                            SendError::Disconnected
                        } else {
                            SendError::Rejected(format!(
                                "{c} is not in adapters.irc.channels, so the bot is not there"
                            ))
                        });
                    }
                    c.channel().to_string()
                }
                Destination::Direct { user, .. } => {
                    match shared.accounts.nick_of(user.as_str()) {
                        Some(nick) => nick.to_string(),
                        None => {
                            // IRC keeps no messages for people who are away;
                            // a retry could block every later announcement.
                            return Err(SendError::Rejected(format!(
                                "nobody is logged in to the account \"{user}\", and IRC keeps no messages"
                            )));
                        }
                    }
                }
            };
            (target, lines)
        };
        self.say(&target, text, &lines).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"alice\0alice\0pw"), "YWxpY2UAYWxpY2UAcHc=");
    }

    #[test]
    fn jitter_stays_in_the_upper_half() {
        for _ in 0..100 {
            let j = jitter(Duration::from_millis(1000));
            assert!(j >= Duration::from_millis(500) && j < Duration::from_millis(1000));
        }
    }
}
