//! The Discord adapter, on serenity. Two ways in, one way out:
//!
//! - **gateway** mode keeps a websocket to Discord (intents: guild messages,
//!   message content, direct messages). Channel messages addressed with the
//!   prefix or a mention of the bot, and every direct message, go to the
//!   router; application (slash) commands arrive as interactions on the same
//!   socket. serenity reconnects and resumes a dropped session, and replays
//!   what was missed; a message or interaction id seen twice runs once,
//!   because the id is the router's once-key.
//! - **http** mode has no websocket: Discord POSTs interactions to
//!   `/discord/interactions` (see `http::discord`), verified with the
//!   application's Ed25519 public key.
//!
//! Everything leaves through REST: replies, outbox announcements, DMs,
//! channel topics and interaction follow-ups. Slash-command options are
//! turned back into the words of the text grammar
//! ([`signalbox_commands::manifest::discord::text`]), so both ways run the
//! same parser, permissions and handlers.
//!
//! An interaction must be answered within 3 s. In gateway mode the adapter
//! defers at once (Discord shows "thinking…"), runs the command, and edits
//! the deferred answer into the reply; a refusal or usage error replaces it
//! with an ephemeral follow-up that only the caller sees. In http mode the
//! answer is the HTTP response itself: the reply when it is ready within 2 s,
//! else a deferral and the same follow-up later.
//!
//! Outbox announcements carry a nonce derived from the entry's key, with
//! `enforce_nonce`: Discord answers a second create with the same nonce
//! (within a few minutes) with the message it already made, so a resend
//! after a crash or a lost answer does not post twice.
//!
//! Rate limits: talking to Discord directly, serenity's rate limiter keeps to
//! the per-route buckets and honours every 429's `retry_after`. Behind a REST
//! proxy (`api_url`, e.g. twilight's http-proxy, or the tests' fake), serenity
//! bypasses its limiter, so a 429 that still comes back is retried here with
//! backoff. Either way the adapter paces itself to 5 messages per 5 s per
//! channel, Discord's documented channel budget.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serenity::all::{
    ChannelId, ClientBuilder, CommandDataOption, CommandDataOptionValue, CommandInteraction,
    Context as SerenityContext, CreateAllowedMentions, CreateInteractionResponse,
    CreateInteractionResponseFollowup, CreateInteractionResponseMessage, CreateMessage,
    EditChannel, EditInteractionResponse, EventHandler, GatewayIntents, Http, HttpBuilder,
    Interaction, Message, Nonce, Ready, UserId,
};
use serenity::interactions_endpoint::Verifier;
use signalbox_commands::manifest::discord::{self as manifest, Invocation, Value};
use signalbox_commands::mention;
use signalbox_commands::{ChannelAddr, Network, PlatformUserId};
use tokio_util::sync::CancellationToken;

use super::{Adapter, SendError};
use crate::config::Secret;
use crate::outbox::Destination;
use crate::router::{Inbound, Reply, Router};

/// Discord's limit on one message's content, in characters.
pub const MESSAGE_MAX: usize = 2000;

/// Discord's limit on a string nonce, in characters.
const NONCE_MAX: usize = 25;

/// The nonce of part `part` of the outbox entry `key`: the two as they are
/// when they fit Discord's 25 characters (always, short of billions of
/// events), else a 64-bit FNV-1a hash of them, stable across builds.
fn nonce(key: &str, part: usize) -> String {
    let plain = format!("{key}.{part}");
    if plain.len() <= NONCE_MAX {
        return plain;
    }
    let hash = plain.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("h{hash:016x}")
}

/// Discord's per-channel budget: this many messages…
const CHANNEL_BURST: usize = 5;
/// …per this window.
const CHANNEL_WINDOW: Duration = Duration::from_secs(5);

/// How long http mode waits for a reply before deferring; Discord's limit
/// for the first answer is 3 s.
const INLINE_DEADLINE: Duration = Duration::from_secs(2);

/// Retries of a request that got a 429 behind a proxy.
const RATE_LIMIT_RETRIES: u32 = 4;

/// The message flag that makes an interaction answer ephemeral.
const EPHEMERAL: u64 = 1 << 6;

/// How interactions reach the bot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// A gateway websocket: messages, DMs and interactions.
    #[default]
    Gateway,
    /// Interactions POSTed to `/discord/interactions`; no messages.
    Http,
}

/// A Discord id (snowflake), written in TOML as a string or an integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Snowflake(pub u64);

impl<'de> Deserialize<'de> for Snowflake {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(i64),
            Text(String),
        }
        let bad = |shown: String| {
            serde::de::Error::custom(format!(
                "discord id \"{shown}\" is not a snowflake (a positive number such as \"123456789012345678\")"
            ))
        };
        match Raw::deserialize(d)? {
            Raw::Int(i) => u64::try_from(i)
                .ok()
                .filter(|v| *v > 0)
                .map(Snowflake)
                .ok_or_else(|| bad(i.to_string())),
            Raw::Text(s) => s
                .parse::<u64>()
                .ok()
                .filter(|v| *v > 0)
                .map(Snowflake)
                .ok_or_else(|| bad(s)),
        }
    }
}

/// `[adapters.discord]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The bot user's token (Developer Portal → Bot → Reset Token).
    pub bot_token: Option<Secret>,
    /// A file holding the token, relative to the config file.
    pub bot_token_file: Option<PathBuf>,
    /// The application id (Developer Portal → General Information).
    pub application_id: Snowflake,
    /// The application's Ed25519 public key, 64 hex digits; required in http
    /// mode, where it verifies every request.
    pub public_key: Option<String>,
    #[serde(default)]
    pub mode: Mode,
    /// Register the application commands on start (a bulk overwrite, so
    /// repeating it changes nothing).
    #[serde(default)]
    pub register_commands: bool,
    /// Guilds to register the commands in (instant); empty registers them
    /// globally.
    #[serde(default)]
    pub guild_ids: Vec<Snowflake>,
    /// Base URL of a REST proxy that forwards to Discord and rate-limits
    /// (`http://127.0.0.1:3000`). The gateway URL is then asked of it too.
    pub api_url: Option<String>,
}

impl Config {
    /// Resolves `bot_token_file` (relative to `base`) and checks the values;
    /// each problem as (key, message).
    pub fn check(&mut self, base: Option<&Path>) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if let Some(file) = self.bot_token_file.take() {
            let path = base.map_or(file.clone(), |b| b.join(&file));
            match std::fs::read_to_string(&path) {
                Ok(s) => self.bot_token = Some(Secret::new(s.trim_end_matches(['\r', '\n']))),
                Err(e) => problems.push((
                    "bot_token_file",
                    format!("cannot read \"{}\": {e}", path.display()),
                )),
            }
        }
        match &self.bot_token {
            None => {
                if !problems.iter().any(|(k, _)| *k == "bot_token_file") {
                    problems.push((
                        "bot_token",
                        "a bot token is required: bot_token, bot_token_file or SIGNALBOX__ADAPTERS__DISCORD__BOT_TOKEN".to_string(),
                    ))
                }
            }
            Some(t)
                if t.expose().trim().is_empty() || t.expose().chars().any(char::is_whitespace) =>
            {
                problems.push((
                    "bot_token",
                    "the bot token is empty or has spaces".to_string(),
                ))
            }
            Some(_) => {}
        }
        match &self.public_key {
            Some(key) => {
                if let Err(e) = verifier(key) {
                    problems.push(("public_key", e));
                }
            }
            None if self.mode == Mode::Http => problems.push((
                "public_key",
                "mode \"http\" needs the application's public key to verify requests".to_string(),
            )),
            None => {}
        }
        if let Some(url) = &self.api_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            problems.push((
                "api_url",
                format!("api_url \"{url}\" must start with http:// or https://"),
            ));
        }
        problems
    }

    fn token(&self) -> &str {
        self.bot_token.as_ref().map_or("", Secret::expose)
    }

    fn http(&self) -> Http {
        let builder = HttpBuilder::new(self.token()).application_id(self.application_id.0.into());
        match &self.api_url {
            // serenity sends REST to the proxy only with its own limiter off.
            Some(url) => builder
                .proxy(url.trim_end_matches('/'))
                .ratelimiter_disabled(true),
            None => builder,
        }
        .build()
    }
}

/// A verifier for a public key given as 64 hex digits.
fn verifier(key: &str) -> Result<Verifier, String> {
    let bad = |why: &str| format!("public key \"{key}\" {why}");
    if key.len() != 64 {
        return Err(bad("must be 64 hex digits"));
    }
    let mut bytes = [0u8; 32];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&key[2 * i..2 * i + 2], 16)
            .map_err(|_| bad("must be 64 hex digits"))?;
    }
    Verifier::try_new(bytes).map_err(|_| bad("is not a valid Ed25519 public key"))
}

/// Why an interaction request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("missing signature headers")]
    Missing,
    #[error("invalid request signature")]
    Invalid,
    #[error("no public key is configured")]
    NoKey,
}

pub struct Discord {
    config: Config,
    http: Arc<Http>,
    router: Arc<Router>,
    verifier: Option<Verifier>,
    /// The bot's own user id, learned from READY; mentions of it address the bot.
    me: AtomicU64,
    registered: AtomicBool,
    dm_channels: Mutex<HashMap<UserId, ChannelId>>,
    sent: tokio::sync::Mutex<HashMap<ChannelId, VecDeque<tokio::time::Instant>>>,
}

impl std::fmt::Debug for Discord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Discord")
            .field("application_id", &self.config.application_id)
            .field("mode", &self.config.mode)
            .finish_non_exhaustive()
    }
}

impl Discord {
    /// Builds the adapter from a checked config (see [`Config::check`]).
    pub fn new(config: Config, router: Arc<Router>) -> Result<Discord, String> {
        let verifier = config.public_key.as_deref().map(verifier).transpose()?;
        Ok(Discord {
            http: Arc::new(config.http()),
            config,
            router,
            verifier,
            me: AtomicU64::new(0),
            registered: AtomicBool::new(false),
            dm_channels: Mutex::new(HashMap::new()),
            sent: tokio::sync::Mutex::new(HashMap::new()),
        })
    }

    pub fn mode(&self) -> Mode {
        self.config.mode
    }

    /// The bot's user id, once the gateway said READY.
    pub fn user_id(&self) -> Option<u64> {
        Some(self.me.load(Ordering::SeqCst)).filter(|id| *id != 0)
    }

    /// Checks an interaction request's signature (`X-Signature-Ed25519`
    /// over `X-Signature-Timestamp` + body).
    pub fn verify(
        &self,
        signature: Option<&str>,
        timestamp: Option<&str>,
        body: &[u8],
    ) -> Result<(), VerifyError> {
        let verifier = self.verifier.as_ref().ok_or(VerifyError::NoKey)?;
        let (Some(signature), Some(timestamp)) = (signature, timestamp) else {
            return Err(VerifyError::Missing);
        };
        verifier
            .verify(signature, timestamp, body)
            .map_err(|()| VerifyError::Invalid)
    }

    /// Registers the application commands (bulk overwrite) once per process.
    async fn register(&self) {
        if !self.config.register_commands || self.registered.load(Ordering::SeqCst) {
            return;
        }
        let commands = manifest::application_commands();
        let result = if self.config.guild_ids.is_empty() {
            self.http
                .create_global_commands(&commands)
                .await
                .map(|c| c.len())
        } else {
            let mut total = Ok(0);
            for guild in &self.config.guild_ids {
                total = match self
                    .http
                    .create_guild_commands(guild.0.into(), &commands)
                    .await
                {
                    Ok(c) => total.map(|n: usize| n + c.len()),
                    Err(e) => Err(e),
                };
                if total.is_err() {
                    break;
                }
            }
            total
        };
        match result {
            Ok(n) => {
                self.registered.store(true, Ordering::SeqCst);
                tracing::info!("discord: registered {n} application commands");
            }
            Err(e) => tracing::warn!("discord: registering application commands failed: {e}"),
        }
    }

    /// A channel message or DM from the gateway.
    async fn on_message(&self, msg: Message) {
        if msg.author.bot || msg.webhook_id.is_some() {
            return;
        }
        let text = self.unmention(&msg.content);
        let inbound = Inbound {
            network: Network::Discord,
            channel: msg
                .guild_id
                .map(|_| ChannelAddr::new(Network::Discord, msg.channel_id.to_string())),
            user: PlatformUserId::new(msg.author.id.to_string()),
            text,
            id: Some(msg.id.to_string()),
            aliases: Vec::new(),
        };
        if let Some(reply) = self.router.dispatch(&inbound).await
            && let Err(e) = self.post(msg.channel_id, &reply).await
        {
            tracing::warn!(channel = %msg.channel_id, "discord: reply failed: {e}");
        }
    }

    /// A leading mention of the bot (`<@id>` or `<@!id>`) becomes the prefix.
    fn unmention(&self, content: &str) -> String {
        let me = self.me.load(Ordering::SeqCst);
        if me != 0 {
            for mention in [format!("<@{me}>"), format!("<@!{me}>")] {
                if let Some(rest) = content.trim_start().strip_prefix(&mention) {
                    let rest = rest.trim_start_matches([':', ',']).trim_start();
                    return format!("{}{rest}", self.router.settings().prefix);
                }
            }
        }
        content.to_string()
    }

    /// The router's message for an interaction: its options as chat words.
    fn inbound(&self, interaction: &CommandInteraction) -> Result<Inbound, String> {
        let invocation = invocation(interaction);
        let words = manifest::text(&invocation).map_err(|e| e.to_string())?;
        Ok(Inbound {
            network: Network::Discord,
            channel: interaction
                .guild_id
                .map(|_| ChannelAddr::new(Network::Discord, interaction.channel_id.to_string())),
            user: PlatformUserId::new(interaction.user.id.to_string()),
            // A slash command is addressed to the bot by definition.
            text: format!("{}{words}", self.router.settings().prefix),
            id: Some(interaction.id.to_string()),
            aliases: Vec::new(),
        })
    }

    /// Runs an interaction's command; `None` for a redelivered one.
    async fn run_interaction(&self, interaction: &CommandInteraction) -> Option<Reply> {
        match self.inbound(interaction) {
            Ok(inbound) => self.router.dispatch_detailed(&inbound).await,
            Err(usage) => Some(Reply {
                text: usage,
                refused: true,
            }),
        }
    }

    /// Gateway mode: defer at once, run, then edit the deferred answer into
    /// the reply (or replace it with an ephemeral refusal).
    pub async fn on_command(&self, interaction: CommandInteraction) {
        let defer = CreateInteractionResponse::Defer(CreateInteractionResponseMessage::new());
        if let Err(e) = self
            .retry(|| interaction.create_response(&self.http, defer.clone()))
            .await
        {
            // Unacknowledged, Discord shows the user a failure: running the
            // command anyway would change things behind their back.
            tracing::warn!(id = %interaction.id, "discord: cannot acknowledge interaction: {e}");
            return;
        }
        let reply = self.run_interaction(&interaction).await;
        self.follow_up(&interaction, reply).await;
    }

    /// Replaces the deferred answer with the reply.
    async fn follow_up(&self, interaction: &CommandInteraction, reply: Option<Reply>) {
        let result = match reply {
            None => self.retry(|| interaction.delete_response(&self.http)).await,
            Some(Reply {
                text,
                refused: true,
            }) => {
                // The deferral was public; a refusal is for the caller only.
                let _ = self.retry(|| interaction.delete_response(&self.http)).await;
                self.followups(interaction, &text, true).await
            }
            Some(Reply {
                text,
                refused: false,
            }) => {
                let users = render(&text).1;
                let mut parts = chunks(&text, MESSAGE_MAX).into_iter();
                let first = parts.next().unwrap_or_default();
                let edit = EditInteractionResponse::new()
                    .content(render(&first).0)
                    .allowed_mentions(only(&users));
                match self
                    .retry(|| interaction.edit_response(&self.http, edit.clone()))
                    .await
                {
                    Ok(_) => {
                        let rest: Vec<String> = parts.collect();
                        self.followups(interaction, &rest.join("\n"), false).await
                    }
                    Err(e) => Err(e),
                }
            }
        };
        if let Err(e) = result {
            tracing::warn!(id = %interaction.id, "discord: interaction follow-up failed: {e}");
        }
    }

    async fn followups(
        &self,
        interaction: &CommandInteraction,
        text: &str,
        ephemeral: bool,
    ) -> serenity::Result<()> {
        let users = render(text).1;
        for part in chunks(text, MESSAGE_MAX) {
            let followup = CreateInteractionResponseFollowup::new()
                .content(render(&part).0)
                .ephemeral(ephemeral)
                .allowed_mentions(only(&users));
            self.retry(|| interaction.create_followup(&self.http, followup.clone()))
                .await?;
        }
        Ok(())
    }

    /// Http mode: the JSON answer to an interaction POST. The reply itself
    /// when it is ready within 2 s, else a deferral and a follow-up later.
    pub async fn answer(self: &Arc<Self>, interaction: CommandInteraction) -> serde_json::Value {
        let this = self.clone();
        let task_interaction = interaction.clone();
        let mut task = tokio::spawn(async move { this.run_interaction(&task_interaction).await });
        let reply = match tokio::time::timeout(INLINE_DEADLINE, &mut task).await {
            Ok(joined) => joined.unwrap_or_else(|e| {
                Some(Reply {
                    text: format!("the command failed inside the bot: {e}"),
                    refused: true,
                })
            }),
            Err(_) => {
                let this = self.clone();
                tokio::spawn(async move {
                    // Give Discord the deferral before editing it.
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    let reply = task.await.ok().flatten();
                    this.follow_up(&interaction, reply).await;
                });
                return serde_json::json!({ "type": 5 });
            }
        };
        let Some(reply) = reply else {
            // Redelivered: it ran before; say so only to the caller.
            return serde_json::json!({
                "type": 4,
                "data": { "content": "this interaction was already handled", "flags": EPHEMERAL }
            });
        };
        let mut parts = chunks(&reply.text, MESSAGE_MAX).into_iter();
        let first = parts.next().unwrap_or_default();
        let rest: Vec<String> = parts.collect();
        if !rest.is_empty() {
            let this = self.clone();
            let refused = reply.refused;
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(500)).await;
                if let Err(e) = this
                    .followups(&interaction, &rest.join("\n"), refused)
                    .await
                {
                    tracing::warn!("discord: interaction follow-up failed: {e}");
                }
            });
        }
        let users = render(&reply.text).1;
        let message = CreateInteractionResponseMessage::new()
            .content(render(&first).0)
            .ephemeral(reply.refused)
            .allowed_mentions(only(&users));
        serde_json::to_value(CreateInteractionResponse::Message(message))
            .unwrap_or_else(|_| serde_json::json!({ "type": 4, "data": { "content": "internal error", "flags": EPHEMERAL } }))
    }

    /// Sets a channel's topic (`PATCH /channels/{id}`). Discord allows two
    /// topic edits per channel per 10 minutes; the limiter waits for them.
    pub async fn set_topic(&self, channel: &ChannelAddr, topic: &str) -> Result<(), SendError> {
        let id = channel_id(channel)?;
        let edit = EditChannel::new().topic(topic);
        self.retry(|| id.edit(&self.http, edit.clone()))
            .await
            .map(|_| ())
            .map_err(send_error)
    }

    /// Posts `text` in a channel, split at Discord's length limit, paced to
    /// the channel budget, with 429s retried.
    async fn post(&self, channel: ChannelId, text: &str) -> serenity::Result<()> {
        self.post_keyed(channel, text, None).await
    }

    /// [`Self::post`]; with an outbox key, each part carries its nonce
    /// (enforced), so posting the same entry again creates nothing new.
    async fn post_keyed(
        &self,
        channel: ChannelId,
        text: &str,
        key: Option<&str>,
    ) -> serenity::Result<()> {
        let users = render(text).1;
        for (n, part) in chunks(text, MESSAGE_MAX).into_iter().enumerate() {
            self.pace(channel).await;
            let mut message = CreateMessage::new()
                .content(render(&part).0)
                .allowed_mentions(only(&users));
            if let Some(key) = key {
                message = message
                    .nonce(Nonce::String(nonce(key, n)))
                    .enforce_nonce(true);
            }
            self.retry(|| channel.send_message(&self.http, message.clone()))
                .await?;
        }
        Ok(())
    }

    /// Waits until one more message fits the channel's budget.
    async fn pace(&self, channel: ChannelId) {
        let mut sent = self.sent.lock().await;
        let times = sent.entry(channel).or_default();
        let now = tokio::time::Instant::now();
        while times
            .front()
            .is_some_and(|t| now.duration_since(*t) >= CHANNEL_WINDOW)
        {
            times.pop_front();
        }
        if times.len() >= CHANNEL_BURST
            && let Some(oldest) = times.pop_front()
        {
            tokio::time::sleep_until(oldest + CHANNEL_WINDOW).await;
        }
        times.push_back(tokio::time::Instant::now());
    }

    /// Runs a REST call, retrying 429s that reach us (only behind a proxy:
    /// serenity's own limiter retries them otherwise) with backoff.
    async fn retry<T, F, Fut>(&self, call: F) -> serenity::Result<T>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = serenity::Result<T>>,
    {
        let mut wait = Duration::from_millis(500);
        let mut attempt = 0;
        loop {
            match call().await {
                Err(e) if is_rate_limited(&e) && attempt < RATE_LIMIT_RETRIES => {
                    tracing::debug!("discord: rate limited, retrying in {wait:?}");
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// The DM channel with a user, opened once and remembered.
    async fn dm_channel(&self, user: UserId) -> serenity::Result<ChannelId> {
        if let Some(id) = self
            .dm_channels
            .lock()
            .expect("dm channel map lock is never poisoned: no panics while held")
            .get(&user)
        {
            return Ok(*id);
        }
        let channel = self.retry(|| user.create_dm_channel(&self.http)).await?;
        self.dm_channels
            .lock()
            .expect("dm channel map lock is never poisoned: no panics while held")
            .insert(user, channel.id);
        Ok(channel.id)
    }
}

/// The bot's text for Discord: mention tokens as `<@id>`, with the users
/// they name, who are the only ones the message may ping.
fn render(text: &str) -> (String, Vec<UserId>) {
    let mut users: Vec<UserId> = Vec::new();
    let out = mention::render(text, |name, handle| {
        match handle
            .and_then(|h| h.parse::<u64>().ok())
            .filter(|id| *id > 0)
        {
            Some(id) => {
                if !users.contains(&UserId::new(id)) {
                    users.push(UserId::new(id));
                }
                format!("<@{id}>")
            }
            None => name.to_string(),
        }
    });
    (out, users)
}

/// Pings exactly `users`: never @everyone, @here, roles, or a user whose
/// `<@id>` came in with echoed text.
fn only(users: &[UserId]) -> CreateAllowedMentions {
    CreateAllowedMentions::new().users(users.iter().copied())
}

fn is_rate_limited(e: &serenity::Error) -> bool {
    matches!(
        e,
        serenity::Error::Http(serenity::http::HttpError::UnsuccessfulRequest(r))
            if r.status_code.as_u16() == 429
    )
}

/// A REST failure as the outbox sees it (`SendError::from_status`).
fn send_error(e: serenity::Error) -> SendError {
    let status = match &e {
        serenity::Error::Http(serenity::http::HttpError::UnsuccessfulRequest(r)) => {
            Some(r.status_code.as_u16())
        }
        _ => None,
    };
    SendError::from_status(status, format!("discord: {e}"))
}

fn channel_id(channel: &ChannelAddr) -> Result<ChannelId, SendError> {
    channel
        .channel()
        .parse::<u64>()
        .ok()
        .filter(|v| *v > 0)
        .map(ChannelId::new)
        .ok_or_else(|| SendError::Rejected(format!("\"{channel}\" is not a discord channel id")))
}

/// The invocation of a slash command: command, verb and option values.
fn invocation(interaction: &CommandInteraction) -> Invocation {
    let data = &interaction.data;
    let mut verb = None;
    let mut options: &[CommandDataOption] = &data.options;
    if let Some(first) = data.options.first() {
        match &first.value {
            CommandDataOptionValue::SubCommand(inner) => {
                verb = Some(first.name.clone());
                options = inner;
            }
            // A verb in a group (`/oncall swap take`): `swap take`.
            CommandDataOptionValue::SubCommandGroup(group) => {
                if let Some(sub) = group.first()
                    && let CommandDataOptionValue::SubCommand(inner) = &sub.value
                {
                    verb = Some(format!("{} {}", first.name, sub.name));
                    options = inner;
                }
            }
            _ => {}
        }
    }
    Invocation {
        command: data.name.clone(),
        verb,
        options: options
            .iter()
            .filter_map(|o| {
                let value = match &o.value {
                    CommandDataOptionValue::String(s) => Value::String(s.clone()),
                    CommandDataOptionValue::Integer(i) => Value::Integer(*i),
                    CommandDataOptionValue::Number(n) => Value::Number(*n),
                    CommandDataOptionValue::Boolean(b) => Value::Boolean(*b),
                    CommandDataOptionValue::User(u) => Value::String(u.to_string()),
                    CommandDataOptionValue::Channel(c) => Value::String(c.to_string()),
                    _ => return None,
                };
                Some((o.name.clone(), value))
            })
            .collect(),
    }
}

/// Splits text into pieces of at most `max` characters, at line breaks where
/// possible.
pub fn chunks(text: &str, max: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut len = 0;
    for line in text.split('\n') {
        let line_len = line.chars().count();
        if len > 0 && len + 1 + line_len > max {
            out.push(std::mem::take(&mut current));
            len = 0;
        }
        if line_len > max {
            let chars: Vec<char> = line.chars().collect();
            for piece in chars.chunks(max) {
                if len > 0 {
                    out.push(std::mem::take(&mut current));
                }
                current = piece.iter().collect();
                len = piece.len();
            }
            continue;
        }
        if len > 0 {
            current.push('\n');
            len += 1;
        }
        current.push_str(line);
        len += line_len;
    }
    if !current.is_empty() || out.is_empty() {
        out.push(current);
    }
    out
}

struct Handler {
    discord: Arc<Discord>,
}

#[async_trait]
impl EventHandler for Handler {
    async fn ready(&self, _ctx: SerenityContext, ready: Ready) {
        self.discord.me.store(ready.user.id.get(), Ordering::SeqCst);
        tracing::info!(user = %ready.user.id, "discord: gateway ready");
    }

    async fn message(&self, _ctx: SerenityContext, msg: Message) {
        self.discord.on_message(msg).await;
    }

    async fn interaction_create(&self, _ctx: SerenityContext, interaction: Interaction) {
        if let Interaction::Command(command) = interaction {
            self.discord.on_command(command).await;
        }
    }
}

#[async_trait]
impl Adapter for Discord {
    fn network(&self) -> Network {
        Network::Discord
    }

    async fn run(
        self: Arc<Self>,
        _router: Arc<Router>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        self.register().await;
        if self.config.mode == Mode::Http {
            shutdown.cancelled().await;
            return Ok(());
        }
        let intents = GatewayIntents::GUILD_MESSAGES
            | GatewayIntents::DIRECT_MESSAGES
            | GatewayIntents::MESSAGE_CONTENT;
        let mut client = ClientBuilder::new_with_http(self.config.http(), intents)
            .event_handler(Handler {
                discord: self.clone(),
            })
            .await?;
        let shards = client.shard_manager.clone();
        tokio::select! {
            result = client.start() => {
                result?;
                anyhow::bail!("the discord gateway connection ended")
            }
            _ = shutdown.cancelled() => {
                shards.shutdown_all().await;
                Ok(())
            }
        }
    }

    async fn send(&self, to: &Destination, text: &str) -> Result<(), SendError> {
        self.send_keyed(to, text, None).await
    }

    async fn send_once(
        &self,
        to: &Destination,
        text: &str,
        key: &str,
        _in_flight: bool,
    ) -> Result<(), SendError> {
        self.send_keyed(to, text, Some(key)).await
    }
}

impl Discord {
    /// A message (or topic) to `to`; with an outbox key, nonced.
    async fn send_keyed(
        &self,
        to: &Destination,
        text: &str,
        key: Option<&str>,
    ) -> Result<(), SendError> {
        let channel = match to {
            Destination::Topic(c) => return self.set_topic(c, &mention::plain(text)).await,
            Destination::Channel(c) => channel_id(c),
            Destination::Direct { user, .. } => match user.as_str().parse::<u64>() {
                Ok(id) if id > 0 => self.dm_channel(UserId::new(id)).await.map_err(send_error),
                _ => Err(SendError::Rejected(format!(
                    "\"{user}\" is not a discord user id"
                ))),
            },
        }?;
        self.post_keyed(channel, text, key)
            .await
            .map_err(send_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_fit_discord_and_differ_per_entry_and_part() {
        assert_eq!(nonce("12-3", 0), "12-3.0");
        assert_ne!(nonce("12-3", 1), nonce("12-3", 0));
        let huge = format!("{}-{}", u64::MAX, u64::MAX);
        let (a, b) = (nonce(&huge, 0), nonce(&huge, 1));
        assert!(a.len() <= NONCE_MAX && b.len() <= NONCE_MAX, "{a} {b}");
        assert_ne!(a, b);
        assert_eq!(a, nonce(&huge, 0), "stable");
    }

    #[test]
    fn chunks_respect_the_limit_and_lines() {
        assert_eq!(chunks("", 10), [""]);
        assert_eq!(chunks("a\nb", 10), ["a\nb"]);
        assert_eq!(chunks("aaaa\nbbbb\ncc", 9), ["aaaa\nbbbb", "cc"]);
        let long = "x".repeat(25);
        let parts = chunks(&long, 10);
        assert_eq!(parts, ["x".repeat(10), "x".repeat(10), "x".repeat(5)]);
        for p in chunks(&format!("{long}\nshort\n{long}"), 10) {
            assert!(p.chars().count() <= 10, "{p:?}");
        }
    }

    #[test]
    fn config_problems_name_the_key() {
        let text = "application_id = \"12\"\npublic_key = \"abc\"\nmode = \"http\"\napi_url = \"ftp://x\"\n";
        let mut config: Config = toml::from_str(text).expect("parses");
        let problems = config.check(None);
        let keys: Vec<&str> = problems.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, ["bot_token", "public_key", "api_url"], "{problems:?}");
        assert!(problems[1].1.contains("\"abc\""), "{problems:?}");
        let bad_id = toml::from_str::<Config>("application_id = \"twelve\"\n")
            .expect_err("not a snowflake")
            .to_string();
        assert!(bad_id.contains("\"twelve\""), "{bad_id}");
        let unknown = toml::from_str::<Config>("application_id = 1\ntoken = \"x\"\n")
            .expect_err("unknown key")
            .to_string();
        assert!(unknown.contains("token"), "{unknown}");
    }

    #[test]
    fn public_keys_are_checked_not_panicked_on() {
        assert!(verifier(&"zz".repeat(32)).is_err());
        assert!(verifier("00").is_err());
        // A valid curve point (the Ed25519 base point's encoding).
        let base = "5866666666666666666666666666666666666666666666666666666666666666";
        assert!(verifier(base).is_ok());
    }

    #[test]
    fn the_token_comes_from_a_file_or_the_environment_and_is_redacted() {
        use std::collections::HashMap;
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("token"), "file-token-s3cret\n").expect("write");
        let text = "[adapters.discord]\napplication_id = 12\nbot_token_file = \"token\"\n";
        let config = crate::config::Config::from_text(text, "t", &HashMap::new(), Some(dir.path()))
            .expect("config");
        let discord = config.adapters.discord.as_ref().expect("discord table");
        assert_eq!(discord.token(), "file-token-s3cret");
        assert!(!format!("{config:?}").contains("s3cret"));

        let mut env = HashMap::new();
        env.insert(
            "SIGNALBOX__ADAPTERS__DISCORD__BOT_TOKEN".to_string(),
            "env-token".to_string(),
        );
        let config = crate::config::Config::from_text(
            "[adapters.discord]\napplication_id = \"12\"\n",
            "t",
            &env,
            None,
        )
        .expect("config");
        assert_eq!(
            config.adapters.discord.as_ref().expect("discord").token(),
            "env-token"
        );

        let err = crate::config::Config::from_text(
            "[bot]\nname = \"x\"\n[adapters.discord]\napplication_id = 12\nbot_token = \"t\"\nmode = \"http\"\n",
            "t",
            &HashMap::new(),
            None,
        )
        .expect_err("http mode without a key")
        .to_string();
        assert!(
            err.contains("adapters.discord.public_key: mode \"http\" needs"),
            "{err}"
        );
    }
}
