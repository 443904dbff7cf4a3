//! The Slack adapter. Slack reaches the bot in one of two ways: Socket Mode
//! (the default: the bot opens a websocket with an app-level token, so no
//! public URL is needed) or HTTP mode (Slack POSTs signed requests to
//! `/slack/commands`, `/slack/events` and `/slack/interactions`, see
//! `crate::http::slack`). Both hand the same two things to [`Core`]: slash
//! commands and Events API callbacks.
//!
//! Slack's rules shape the flow: every envelope or request must be
//! acknowledged within 3 seconds, so a command is acknowledged as soon as its
//! change is durable (or after [`ACK_BUDGET`] at the latest) and answered
//! afterwards through its `response_url` (slash commands) or
//! `chat.postMessage` (mentions, DMs), in the thread it came from. Refusals
//! and usage errors are ephemeral: only the caller sees them.
//!
//! People are Slack user ids (`U…`), channels are channel ids (`C…`); names
//! never identify anyone. A redelivered envelope carries the same envelope
//! or event id, which becomes [`Inbound::id`] so the ledger runs it once.
//!
//! Outbox announcements carry their outbox key in the message's
//! `metadata` (event type [`OUTBOX_EVENT`]). Slack has no idempotency key
//! for `chat.postMessage`, so before posting an entry that may have reached
//! Slack already (marked in flight, see [`crate::outbox`]) the adapter reads
//! the conversation's [`LOOKBACK`] newest messages with their metadata and
//! posts only when none of the bot's own (`auth.test` says who it is)
//! carries the key: another app's, even another signalbox's, never counts.
//!
//! The Web API goes through `slack-morphism`'s client. Socket Mode is driven
//! here on `tokio-tungstenite` (see [`socket`]) rather than by
//! `slack-morphism`'s listener, because that listener hides the envelope id
//! of slash commands, reconnects at a fixed interval without backoff or a
//! health signal, and acknowledges a slash command only together with an
//! inline reply.

pub mod socket;
pub mod text;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use hyper_util::client::legacy::connect::{Connect, HttpConnector};
use serde::Deserialize;
use signalbox_commands::manifest::{self, SlackOptions};
use signalbox_commands::{ChannelAddr, Network, PlatformUserId};
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::{Adapter, HealthBoard, SendError};
use crate::config::{Problem, Secret, find_key_line};
use crate::outbox::Destination;
use crate::router::{Inbound, Reply, Router};

/// How long an acknowledgement may wait for the command's change to be
/// durable; Slack allows 3 seconds in all.
pub const ACK_BUDGET: Duration = Duration::from_millis(2500);

/// The metadata event type of an outbox announcement; its payload's `key`
/// is the entry's key.
pub const OUTBOX_EVENT: &str = "signalbox_outbox";

/// How many of a conversation's newest messages a resend looks through for
/// its key: an announcement buried deeper than this before its resend is
/// posted again.
pub const LOOKBACK: u16 = 100;

/// The longest `Retry-After` the adapter sleeps through in one send.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);

/// How Slack reaches the bot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// A websocket the bot opens with the app-level token.
    #[default]
    Socket,
    /// Signed HTTP requests to the bot's HTTP server.
    Http,
}

/// `[adapters.slack]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub mode: Mode,
    /// Bot token (`xoxb-…`), for the Web API.
    pub bot_token: Option<Secret>,
    pub bot_token_file: Option<PathBuf>,
    /// App-level token (`xapp-…`) with `connections:write`, for Socket Mode.
    pub app_token: Option<Secret>,
    pub app_token_file: Option<PathBuf>,
    /// Signing secret, for HTTP mode.
    pub signing_secret: Option<Secret>,
    pub signing_secret_file: Option<PathBuf>,
    /// Slash command names: family → `/name`, and `all` for the command
    /// that takes every command (default `/signalbox`).
    #[serde(default)]
    pub commands: BTreeMap<String, String>,
    /// The Web API base URL (a proxy, or a fake in tests).
    #[serde(default = "default_api_url")]
    pub api_url: String,
}

fn default_api_url() -> String {
    "https://slack.com/api".to_string()
}

/// The key in `[adapters.slack.commands]` naming the catch-all command.
const ALL: &str = "all";

impl Config {
    /// A config for tests and tools: the given tokens, default names.
    pub fn new(mode: Mode, bot_token: &str, app_token: &str, signing_secret: &str) -> Self {
        Self {
            mode,
            bot_token: Some(Secret::new(bot_token)),
            bot_token_file: None,
            app_token: Some(Secret::new(app_token)),
            app_token_file: None,
            signing_secret: Some(Secret::new(signing_secret)),
            signing_secret_file: None,
            commands: BTreeMap::new(),
            api_url: default_api_url(),
        }
    }

    /// Reads `*_file` secrets and checks what each mode needs and the
    /// slash command names.
    pub fn check(&mut self, text: &str, base: Option<&std::path::Path>) -> Vec<Problem> {
        let mut problems = Vec::new();
        let problem = |key: &str, message: String| Problem {
            line: find_key_line(text, key),
            key: format!("adapters.slack.{key}"),
            message,
        };
        for (key, secret, file) in [
            ("bot_token", &mut self.bot_token, &mut self.bot_token_file),
            ("app_token", &mut self.app_token, &mut self.app_token_file),
            (
                "signing_secret",
                &mut self.signing_secret,
                &mut self.signing_secret_file,
            ),
        ] {
            let Some(file) = file.take() else { continue };
            let path = base.map_or(file.clone(), |b| b.join(&file));
            match std::fs::read_to_string(&path) {
                Ok(s) => *secret = Some(Secret::new(s.trim_end_matches(['\r', '\n']))),
                Err(e) => problems.push(problem(
                    &format!("{key}_file"),
                    format!("cannot read \"{}\": {e}", path.display()),
                )),
            }
        }
        let needed: &[(&str, &Option<Secret>, &str)] = match self.mode {
            Mode::Socket => &[
                ("bot_token", &self.bot_token, "xoxb-"),
                ("app_token", &self.app_token, "xapp-"),
            ],
            Mode::Http => &[
                ("bot_token", &self.bot_token, "xoxb-"),
                ("signing_secret", &self.signing_secret, ""),
            ],
        };
        let mode = match self.mode {
            Mode::Socket => "socket",
            Mode::Http => "http",
        };
        for (key, value, lead) in needed {
            match value {
                None => problems.push(problem(
                    key,
                    format!("mode \"{mode}\" needs {key} (or {key}_file, or SIGNALBOX__ADAPTERS__SLACK__{})", key.to_uppercase()),
                )),
                Some(v) if !v.expose().starts_with(lead) || v.expose().len() <= lead.len() => {
                    problems.push(problem(key, format!("{key} must start with \"{lead}\"")))
                }
                Some(_) => {}
            }
        }
        let families: Vec<String> = manifest::slash_families()
            .into_iter()
            .map(|(f, _)| f)
            .collect();
        let mut seen: HashMap<String, String> = HashMap::new();
        for (key, name) in self.slash_names() {
            if key != ALL && !families.contains(&key) {
                problems.push(problem(
                    &key,
                    format!(
                        "\"{key}\" is not a command family; families are: {}, and \"all\"",
                        families.join(", ")
                    ),
                ));
            }
            if let Some(why) = manifest::slash_name_problem(&name) {
                problems.push(problem(&key, why));
            }
            if let Some(other) = seen.insert(name.clone(), key.clone()) {
                problems.push(problem(
                    &key,
                    format!("slash command \"{name}\" is also used for \"{other}\""),
                ));
            }
        }
        if !(self.api_url.starts_with("https://") || self.api_url.starts_with("http://")) {
            problems.push(problem(
                "api_url",
                format!("api_url \"{}\" must be an http(s) URL", self.api_url),
            ));
        }
        self.api_url = self.api_url.trim_end_matches('/').to_string();
        problems
    }

    /// Every slash command: (family or `all`, `/name`).
    pub fn slash_names(&self) -> Vec<(String, String)> {
        let mut names: Vec<(String, String)> = self
            .manifest_options("signalbox", None)
            .slash_commands()
            .into_iter()
            .collect();
        for (key, name) in &self.commands {
            if !names.iter().any(|(family, _)| family == key) && key != ALL {
                names.push((key.clone(), name.clone()));
            }
        }
        names.push((ALL.to_string(), self.catch_all()));
        names
    }

    fn catch_all(&self) -> String {
        self.commands
            .get(ALL)
            .cloned()
            .unwrap_or_else(|| "/signalbox".to_string())
    }

    /// What the manifest needs from this config.
    pub fn manifest_options(&self, bot_name: &str, public_url: Option<&str>) -> SlackOptions {
        SlackOptions {
            bot_name: bot_name.to_string(),
            catch_all: self.catch_all(),
            names: self
                .commands
                .iter()
                .filter(|(k, _)| *k != ALL)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            request_url: match self.mode {
                Mode::Socket => None,
                Mode::Http => Some(public_url.unwrap_or("https://signalbox.example.org").into()),
            },
        }
    }
}

/// Why the adapter could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SlackError {
    #[error("adapters.slack.{0} is missing")]
    Missing(&'static str),
    #[error("cannot set up HTTPS for the Slack Web API: {0}")]
    Tls(std::io::Error),
}

/// A slash command, as Slack sends it (form fields in HTTP mode, the
/// `payload` object in Socket Mode).
#[derive(Debug, Clone, Deserialize)]
pub struct SlashCommand {
    pub command: String,
    #[serde(default)]
    pub text: String,
    pub user_id: String,
    pub channel_id: String,
    pub response_url: String,
    #[serde(default)]
    pub trigger_id: Option<String>,
}

/// An Events API callback (`type: event_callback`).
#[derive(Debug, Clone, Deserialize)]
pub struct EventCallback {
    pub event_id: String,
    pub event: Event,
}

/// The parts of a `message` or `app_mention` event the bot reads.
#[derive(Debug, Clone, Deserialize)]
pub struct Event {
    #[serde(rename = "type")]
    pub kind: String,
    pub user: Option<String>,
    #[serde(default)]
    pub text: String,
    pub channel: Option<String>,
    pub channel_type: Option<String>,
    pub ts: Option<String>,
    pub thread_ts: Option<String>,
    pub subtype: Option<String>,
    pub bot_id: Option<String>,
}

/// Where inbound traffic lands: implemented by [`Core`] for every
/// connector, so the HTTP routes need not know it.
pub trait Inbox: Send + Sync + 'static {
    /// Starts a slash command; the receiver fires once its change (if any)
    /// is durable, which is when it may be acknowledged.
    fn command(self: Arc<Self>, command: SlashCommand, id: Option<String>)
    -> oneshot::Receiver<()>;

    /// Starts an event; the receiver fires as for [`Inbox::command`].
    fn event(self: Arc<Self>, callback: EventCallback) -> oneshot::Receiver<()>;
}

/// Waits for a command to be durable, at most [`ACK_BUDGET`].
pub async fn ack_when_done(done: oneshot::Receiver<()>) {
    let _ = tokio::time::timeout(ACK_BUDGET, done).await;
}

type Client<H> = SlackClient<SlackClientHyperConnector<H>>;

/// What Socket Mode and HTTP mode share: translating inbound traffic for the
/// router and talking to the Web API.
pub struct Core<H: Connect + Clone + Send + Sync + 'static> {
    client: Client<H>,
    bot_token: SlackApiToken,
    router: Arc<Router>,
    /// `/name` → the family it runs (`None` for the catch-all).
    slash: HashMap<String, Option<String>>,
    /// Person's user id → their DM channel, from `conversations.open`.
    dms: Mutex<HashMap<String, String>>,
    /// Who the bot is, from `auth.test`, once a resend needs it.
    me: tokio::sync::OnceCell<Me>,
}

/// The bot's own ids, which its messages carry.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Me {
    user: String,
    bot: Option<String>,
}

impl Me {
    /// Whether `message` is the bot's and carries the outbox key `key`.
    fn posted(&self, message: &SlackHistoryMessage, key: &str) -> bool {
        let sender = &message.sender;
        let mine = sender.user.as_ref().is_some_and(|u| u.0 == self.user)
            || (self.bot.is_some() && sender.bot_id.as_ref().map(|b| &b.0) == self.bot.as_ref());
        mine && message.content.metadata.as_ref().is_some_and(|meta| {
            meta.event_type == OUTBOX_EVENT
                && meta
                    .event_payload
                    .as_ref()
                    .and_then(|p| p.get("key"))
                    .is_some_and(|k| k == key)
        })
    }
}

impl<H: Connect + Clone + Send + Sync + 'static> Core<H> {
    fn new(
        config: &Config,
        connector: SlackClientHyperConnector<H>,
        router: Arc<Router>,
    ) -> Result<Self, SlackError> {
        let token = config
            .bot_token
            .as_ref()
            .ok_or(SlackError::Missing("bot_token"))?;
        let connector = connector.with_slack_api_url(config.api_url.trim_end_matches('/'));
        let slash = config
            .slash_names()
            .into_iter()
            .map(|(key, name)| (name, (key != ALL).then_some(key)))
            .collect();
        Ok(Self {
            client: SlackClient::new(connector),
            bot_token: SlackApiToken::new(token.expose().into()),
            router,
            slash,
            dms: Mutex::new(HashMap::new()),
            me: tokio::sync::OnceCell::new(),
        })
    }

    /// The command line a slash command stands for, or a refusal.
    fn command_line(&self, command: &SlashCommand) -> Result<String, Reply> {
        let prefix = self.router.settings().prefix.clone();
        let typed = text::unescape(&command.text);
        let text = typed.trim();
        let text = text.strip_prefix(prefix.as_str()).unwrap_or(text).trim();
        match self.slash.get(&command.command.to_lowercase()) {
            Some(Some(family)) if text.is_empty() => Ok(format!("{prefix}{family}")),
            Some(Some(family)) => Ok(format!("{prefix}{family} {text}")),
            Some(None) if text.is_empty() => Ok(format!("{prefix}help")),
            Some(None) => Ok(format!("{prefix}{text}")),
            None => {
                let mut mine: Vec<&str> = self.slash.keys().map(String::as_str).collect();
                mine.sort_unstable();
                Err(Reply {
                    text: format!(
                        "slash command \"{}\" is not one of mine; mine are: {}",
                        command.command,
                        mine.join(", ")
                    ),
                    refused: true,
                })
            }
        }
    }

    async fn run_command(&self, command: &SlashCommand, id: Option<String>) -> Option<Reply> {
        let text = match self.command_line(command) {
            Ok(text) => text,
            Err(refusal) => return Some(refusal),
        };
        let msg = Inbound {
            network: Network::Slack,
            channel: channel_of(&command.channel_id),
            user: PlatformUserId::new(&command.user_id),
            text,
            id,
            aliases: Vec::new(),
        };
        self.router.dispatch_detailed(&msg).await
    }

    /// The message a Slack event stands for, if it is one the bot reads.
    fn event_message(&self, callback: &EventCallback) -> Option<Inbound> {
        let event = &callback.event;
        if event.subtype.is_some() || event.bot_id.is_some() {
            return None; // edits, joins, and bots (including this one)
        }
        let user = event.user.as_ref()?;
        let channel = event.channel.as_ref()?;
        let direct = event.channel_type.as_deref() == Some("im");
        let text = match event.kind.as_str() {
            "app_mention" => {
                let prefix = self.router.settings().prefix.as_str();
                let rest = text::unescape(strip_mention(&event.text)?);
                let rest = rest.strip_prefix(prefix).unwrap_or(&rest).trim_start();
                format!("{prefix}{rest}")
            }
            // A mention arrives twice, as `message` and as `app_mention`;
            // only the latter runs.
            "message" if event.text.trim_start().starts_with("<@") => return None,
            "message" => text::unescape(&event.text),
            _ => return None,
        };
        Some(Inbound {
            network: Network::Slack,
            channel: if direct { None } else { channel_of(channel) },
            user: PlatformUserId::new(user),
            text,
            id: Some(callback.event_id.clone()),
            aliases: Vec::new(),
        })
    }

    /// Posts the answer to a slash command through its `response_url`.
    async fn respond(&self, response_url: &str, reply: &Reply) {
        let Ok(url) = url::Url::parse(response_url) else {
            tracing::warn!("slash command response_url is not a URL; reply dropped");
            return;
        };
        let body = serde_json::json!({
            "text": text::escape(&reply.text),
            "response_type": if reply.refused { "ephemeral" } else { "in_channel" },
        });
        for _ in 0..3 {
            let span = tracing::Span::none();
            let context = SlackClientApiCallContext {
                rate_control_params: None,
                token: None,
                tracing_span: &span,
                is_sensitive_url: true,
            };
            let result: ClientResult<serde_json::Value> = self
                .client
                .http_api
                .connector
                .http_post_uri(url.clone(), &body, context)
                .await;
            match result {
                Ok(_) => return,
                Err(SlackClientError::RateLimitError(e)) => {
                    tokio::time::sleep(retry_after(&e)).await;
                }
                Err(e) => {
                    tracing::warn!("slack response_url post failed: {e}");
                    return;
                }
            }
        }
    }

    /// Answers an event in its channel (and thread); refusals ephemerally.
    async fn answer(&self, event: &Event, reply: &Reply) {
        let (Some(channel), Some(user)) = (&event.channel, &event.user) else {
            return;
        };
        let thread = event.thread_ts.clone().map(SlackTs::new);
        let direct = event.channel_type.as_deref() == Some("im");
        for _ in 0..3 {
            let result = if reply.refused && !direct {
                self.post_ephemeral(channel, user, &reply.text, thread.clone())
                    .await
            } else {
                self.post(channel, &reply.text, thread.clone()).await
            };
            match result {
                Ok(()) => return,
                Err(SlackClientError::RateLimitError(e)) => {
                    tokio::time::sleep(retry_after(&e)).await;
                }
                Err(e) => {
                    tracing::warn!(channel, "slack reply failed: {e}");
                    return;
                }
            }
        }
    }

    async fn post(&self, channel: &str, text: &str, thread: Option<SlackTs>) -> ClientResult<()> {
        let content = SlackMessageContent::new().with_text(text::escape(text));
        self.post_content(channel, content, thread).await
    }

    async fn post_content(
        &self,
        channel: &str,
        content: SlackMessageContent,
        thread: Option<SlackTs>,
    ) -> ClientResult<()> {
        let request =
            SlackApiChatPostMessageRequest::new(SlackChannelId::new(channel.to_string()), content)
                .opt_thread_ts(thread);
        self.client
            .open_session(&self.bot_token)
            .chat_post_message(&request)
            .await
            .map(|_| ())
    }

    /// Posts an outbox entry with its key in the metadata; when it is
    /// `in_flight`, only if the conversation's recent messages do not hold
    /// it already.
    async fn post_once(
        &self,
        channel: &str,
        text: &str,
        key: &str,
        in_flight: bool,
    ) -> ClientResult<()> {
        if in_flight {
            match self.posted(channel, key).await {
                Ok(true) => {
                    tracing::info!(
                        channel,
                        key,
                        "outbox entry already in slack: not posted again"
                    );
                    return Ok(());
                }
                Ok(false) => {}
                // The app cannot read this conversation (say, a scope
                // missing): post rather than hold up the queue for good.
                Err(SlackClientError::ApiError(e))
                    if !PERMANENT_ERRORS.contains(&e.code.as_str()) =>
                {
                    tracing::warn!(
                        channel,
                        key,
                        "cannot look for an outbox entry before resending it ({}): it may repeat",
                        e.code
                    );
                }
                Err(e) => return Err(e),
            }
        }
        let metadata = SlackMessageMetadata::new(OUTBOX_EVENT.to_string())
            .with_event_payload([("key".to_string(), key.to_string())].into());
        let content = SlackMessageContent::new()
            .with_text(text::escape(text))
            .with_metadata(metadata);
        self.post_content(channel, content, None).await
    }

    /// Whether one of the [`LOOKBACK`] newest messages of a conversation
    /// is the bot's and carries the outbox key `key` (`conversations.history`
    /// with all metadata).
    async fn posted(&self, channel: &str, key: &str) -> ClientResult<bool> {
        let me = self
            .me
            .get_or_try_init(|| async {
                let auth = self
                    .client
                    .open_session(&self.bot_token)
                    .auth_test()
                    .await?;
                Ok::<_, SlackClientError>(Me {
                    user: auth.user_id.0,
                    bot: auth.bot_id.map(|b| b.0),
                })
            })
            .await?;
        let request = SlackApiConversationsHistoryRequest::new()
            .with_channel(SlackChannelId::new(channel.to_string()))
            .with_limit(LOOKBACK)
            .with_include_all_metadata(true);
        let history = self
            .client
            .open_session(&self.bot_token)
            .conversations_history(&request)
            .await?;
        Ok(history.messages.iter().any(|m| me.posted(m, key)))
    }

    async fn post_ephemeral(
        &self,
        channel: &str,
        user: &str,
        text: &str,
        thread: Option<SlackTs>,
    ) -> ClientResult<()> {
        let request = SlackApiChatPostEphemeralRequest::new(
            SlackChannelId::new(channel.to_string()),
            SlackUserId::new(user.to_string()),
            SlackMessageContent::new().with_text(text::escape(text)),
        )
        .opt_thread_ts(thread);
        self.client
            .open_session(&self.bot_token)
            .chat_post_ephemeral(&request)
            .await
            .map(|_| ())
    }

    /// The DM channel with a user, opened once and remembered.
    async fn direct_channel(&self, user: &str) -> ClientResult<String> {
        if let Some(channel) = self.dms_lock().get(user) {
            return Ok(channel.clone());
        }
        let request = SlackApiConversationsOpenRequest::new()
            .with_users(vec![SlackUserId::new(user.to_string())]);
        let response = self
            .client
            .open_session(&self.bot_token)
            .conversations_open(&request)
            .await?;
        let channel = response.channel.id.to_string();
        self.dms_lock().insert(user.to_string(), channel.clone());
        Ok(channel)
    }

    fn dms_lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.dms
            .lock()
            .expect("dm cache lock is never poisoned: no panics while held")
    }

    /// Sets a channel's topic (`conversations.setTopic`).
    pub async fn set_topic(&self, channel: &str, topic: &str) -> Result<(), SendError> {
        let request = SlackApiConversationsSetTopicRequest::new(
            SlackChannelId::new(channel.to_string()),
            topic.to_string(),
        );
        let result = self
            .client
            .open_session(&self.bot_token)
            .conversations_set_topic(&request)
            .await;
        result.map(|_| ()).map_err(send_error)
    }

    /// Delivers one message: channels by id, people by DM. With an outbox
    /// key and whether the entry is in flight, posted once
    /// ([`Self::post_once`]).
    async fn deliver(
        &self,
        to: &Destination,
        text: &str,
        once: Option<(&str, bool)>,
    ) -> Result<(), SendError> {
        let post = |channel: String| async move {
            match once {
                Some((key, in_flight)) => self.post_once(&channel, text, key, in_flight).await,
                None => self.post(&channel, text, None).await,
            }
        };
        let result = match to {
            Destination::Channel(c) => post(c.channel().to_string()).await,
            Destination::Direct { user, .. } => match self.direct_channel(user.as_str()).await {
                Ok(channel) => post(channel).await,
                Err(e) => Err(e),
            },
            Destination::Topic(c) => {
                return self
                    .set_topic(c.channel(), &signalbox_commands::mention::plain(text))
                    .await;
            }
        };
        match result {
            Ok(()) => Ok(()),
            Err(SlackClientError::RateLimitError(e)) => {
                // Honour Retry-After here; the outbox then retries the same
                // message, so it is delayed, never dropped.
                let wait = retry_after(&e);
                tracing::info!(to = %to, "slack rate limit: waiting {wait:?} before a retry");
                tokio::time::sleep(wait).await;
                Err(SendError::Failed(format!(
                    "rate limited by slack for {}s",
                    wait.as_secs()
                )))
            }
            Err(e) => Err(send_error(e)),
        }
    }
}

impl<H: Connect + Clone + Send + Sync + 'static> Inbox for Core<H> {
    fn command(
        self: Arc<Self>,
        command: SlashCommand,
        id: Option<String>,
    ) -> oneshot::Receiver<()> {
        let (done, durable) = oneshot::channel();
        tokio::spawn(async move {
            let reply = self.run_command(&command, id).await;
            let _ = done.send(());
            if let Some(reply) = reply {
                self.respond(&command.response_url, &reply).await;
            }
        });
        durable
    }

    fn event(self: Arc<Self>, callback: EventCallback) -> oneshot::Receiver<()> {
        let (done, durable) = oneshot::channel();
        tokio::spawn(async move {
            let Some(msg) = self.event_message(&callback) else {
                let _ = done.send(());
                return;
            };
            let reply = self.router.dispatch_detailed(&msg).await;
            let _ = done.send(());
            if let Some(reply) = reply {
                self.answer(&callback.event, &reply).await;
            }
        });
        durable
    }
}

/// The adapter: Socket Mode's connection (or nothing, in HTTP mode) and
/// outbound delivery.
pub struct Slack<H: Connect + Clone + Send + Sync + 'static> {
    core: Arc<Core<H>>,
    mode: Mode,
    app_token: Option<SlackApiToken>,
    health: HealthBoard,
    /// First reconnect delay of Socket Mode; doubles up to a minute.
    backoff: Duration,
}

/// The production adapter: HTTPS only, with the system's root certificates.
pub type HttpsSlack = Slack<slack_morphism::hyper_tokio::SlackHyperHttpsConnector>;

impl HttpsSlack {
    pub fn from_config(
        config: &Config,
        router: Arc<Router>,
        health: HealthBoard,
    ) -> Result<Self, SlackError> {
        // hyper-rustls asks rustls for the process-wide crypto provider,
        // which panics when more than one is compiled in and none was
        // chosen; choose ring (slack-morphism's) unless one already is.
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let connector = SlackClientHyperConnector::new().map_err(SlackError::Tls)?;
        Slack::with_connector(config, connector, router, health)
    }
}

/// The adapter over plain HTTP, for a proxy or a fake Slack on loopback.
pub type PlainSlack = Slack<HttpConnector>;

/// An adapter and its inbound side, whatever its connector.
pub type Configured = (Arc<dyn Adapter>, Arc<dyn Inbox>);

/// The adapter a config asks for, and its inbound side: plain HTTP when
/// `api_url` is an `http://` URL (a local proxy, or a fake in tests), else
/// HTTPS only.
pub fn from_config(
    config: &Config,
    router: Arc<Router>,
    health: HealthBoard,
) -> Result<Configured, SlackError> {
    if config.api_url.starts_with("http://") {
        let slack = PlainSlack::plain(config, router, health)?;
        let inbox = slack.inbox();
        Ok((Arc::new(slack), inbox))
    } else {
        let slack = HttpsSlack::from_config(config, router, health)?;
        let inbox = slack.inbox();
        Ok((Arc::new(slack), inbox))
    }
}

impl PlainSlack {
    pub fn plain(
        config: &Config,
        router: Arc<Router>,
        health: HealthBoard,
    ) -> Result<Self, SlackError> {
        let connector = SlackClientHyperConnector::with_connector(HttpConnector::new());
        Slack::with_connector(config, connector, router, health)
    }
}

/// The Slack app manifest for a config (its slash command names, mode and
/// public URL), or for the defaults.
pub fn app_manifest(config: Option<&crate::config::Config>) -> serde_json::Value {
    let options = match config {
        Some(c) => match &c.adapters.slack {
            Some(slack) => slack.manifest_options(&c.bot.name, c.http.public_url.as_deref()),
            None => SlackOptions {
                bot_name: c.bot.name.clone(),
                ..SlackOptions::default()
            },
        },
        None => SlackOptions::default(),
    };
    manifest::slack(&options)
}

impl<H: Connect + Clone + Send + Sync + 'static> Slack<H> {
    pub fn with_connector(
        config: &Config,
        connector: SlackClientHyperConnector<H>,
        router: Arc<Router>,
        health: HealthBoard,
    ) -> Result<Self, SlackError> {
        let app_token = match config.mode {
            Mode::Socket => Some(SlackApiToken::new(
                config
                    .app_token
                    .as_ref()
                    .ok_or(SlackError::Missing("app_token"))?
                    .expose()
                    .into(),
            )),
            Mode::Http => None,
        };
        Ok(Self {
            core: Arc::new(Core::new(config, connector, router)?),
            mode: config.mode,
            app_token,
            health,
            backoff: Duration::from_secs(1),
        })
    }

    /// The inbound side, for the HTTP routes.
    pub fn inbox(&self) -> Arc<dyn Inbox> {
        self.core.clone()
    }

    /// Sets a channel's topic.
    pub async fn set_topic(&self, channel: &ChannelAddr, topic: &str) -> Result<(), SendError> {
        self.core.set_topic(channel.channel(), topic).await
    }
}

#[async_trait]
impl<H: Connect + Clone + Send + Sync + 'static> Adapter for Slack<H> {
    fn network(&self) -> Network {
        Network::Slack
    }

    async fn run(
        self: Arc<Self>,
        _router: Arc<Router>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        match (&self.mode, &self.app_token) {
            (Mode::Socket, Some(token)) => {
                socket::run(
                    &self.core,
                    &self.core.client,
                    token,
                    &self.health,
                    self.backoff,
                    &shutdown,
                )
                .await;
            }
            // HTTP mode: requests arrive through the HTTP server.
            _ => shutdown.cancelled().await,
        }
        Ok(())
    }

    async fn send(&self, to: &Destination, text: &str) -> Result<(), SendError> {
        self.core.deliver(to, text, None).await
    }

    async fn send_once(
        &self,
        to: &Destination,
        text: &str,
        key: &str,
        in_flight: bool,
    ) -> Result<(), SendError> {
        self.core.deliver(to, text, Some((key, in_flight))).await
    }

    /// A resend looks for the entry first, so it must know whether an
    /// earlier attempt may have reached Slack.
    fn marks_in_flight(&self) -> bool {
        true
    }
}

/// A channel id as an address; `None` for a DM (`D…`), where no prefix is
/// needed.
fn channel_of(id: &str) -> Option<ChannelAddr> {
    (!id.starts_with('D')).then(|| ChannelAddr::new(Network::Slack, id))
}

/// The text after a leading `<@U…>` mention, or `None` without one.
fn strip_mention(text: &str) -> Option<&str> {
    let rest = text.trim_start().strip_prefix("<@")?;
    let end = rest.find('>')?;
    Some(rest[end + 1..].trim_start_matches([':', ',']).trim_start())
}

fn retry_after(e: &slack_morphism::errors::SlackRateLimitError) -> Duration {
    e.retry_after
        .unwrap_or(Duration::from_secs(1))
        .min(MAX_RETRY_AFTER)
}

/// Web API error codes that no retry can fix: the channel or person is gone,
/// the bot is not allowed there, or the message itself is unacceptable.
const PERMANENT_ERRORS: &[&str] = &[
    "channel_not_found",
    "not_in_channel",
    "is_archived",
    "user_not_found",
    "user_disabled",
    "cannot_dm_bot",
    "restricted_action",
    "msg_too_long",
    "no_text",
];

fn send_error(e: SlackClientError) -> SendError {
    match e {
        SlackClientError::HttpProtocolError(_) | SlackClientError::EndOfStream(_) => {
            SendError::Disconnected
        }
        SlackClientError::ApiError(e) if PERMANENT_ERRORS.contains(&e.code.as_str()) => {
            SendError::Rejected(format!("slack: {}", e.code))
        }
        other => SendError::Failed(format!("slack: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_are_stripped() {
        assert_eq!(strip_mention("<@U0BOT> tree close x"), Some("tree close x"));
        assert_eq!(strip_mention("  <@U0BOT>: ping"), Some("ping"));
        assert_eq!(strip_mention("tree"), None);
        assert_eq!(channel_of("D123"), None);
        assert_eq!(
            channel_of("C123"),
            Some(ChannelAddr::new(Network::Slack, "C123"))
        );
    }

    #[test]
    fn only_the_bots_own_message_with_the_key_counts_as_posted() {
        let me = Me {
            user: "U0BOT".into(),
            bot: Some("B0BOT".into()),
        };
        let message = |sender: serde_json::Value, key: &str| -> SlackHistoryMessage {
            let mut m = serde_json::json!({
                "type": "message", "ts": "1700000000.000001", "text": "autoland is closed",
                "metadata": { "event_type": OUTBOX_EVENT, "event_payload": { "key": key } },
            });
            for (k, v) in sender.as_object().expect("object") {
                m[k] = v.clone();
            }
            serde_json::from_value(m).expect("a history message")
        };
        let ours = serde_json::json!({ "user": "U0BOT", "bot_id": "B0BOT" });
        assert!(me.posted(&message(ours.clone(), "12-3"), "12-3"));
        assert!(!me.posted(&message(ours.clone(), "12-4"), "12-3"));
        let by_bot_id = serde_json::json!({ "bot_id": "B0BOT" });
        assert!(me.posted(&message(by_bot_id, "12-3"), "12-3"));
        let theirs = serde_json::json!({ "user": "U0OTHER", "bot_id": "B0OTHER" });
        assert!(
            !me.posted(&message(theirs, "12-3"), "12-3"),
            "another signalbox's key is not ours"
        );
        let mut plain = message(ours, "12-3");
        plain.content.metadata = None;
        assert!(!me.posted(&plain, "12-3"));
    }

    #[test]
    fn config_checks_tokens_and_names() {
        let mut config = Config::new(Mode::Socket, "xoxb-1", "xoxp-wrong", "s");
        config
            .commands
            .insert("tree".to_string(), "/status".to_string());
        config
            .commands
            .insert("trian".to_string(), "/train".to_string());
        let problems: Vec<String> = config
            .check("", None)
            .iter()
            .map(ToString::to_string)
            .collect();
        let all = problems.join("\n");
        assert!(all.contains("app_token must start with \"xapp-\""), "{all}");
        assert!(all.contains("\"/status\" is built into Slack"), "{all}");
        assert!(all.contains("\"trian\" is not a command family"), "{all}");
        let mut fine = Config::new(Mode::Http, "xoxb-1", "", "secret");
        assert!(fine.check("", None).is_empty());
    }
}
