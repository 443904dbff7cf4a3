//! The Matrix adapter, on `matrix-sdk` with end-to-end encryption and a
//! SQLite store, so that encrypted rooms and DMs (Element's default) are
//! readable and the device keeps its keys and id across restarts.
//!
//! Commands run at most once, and none that arrived while the bot was away
//! is lost:
//! - the first sync of a new store is history, never executed;
//! - after that, the sync token is saved (to `sync-token` in the store)
//!   only once every message of its batch has passed the router, so a crash
//!   re-reads a batch rather than skipping it;
//! - the router records each event id in the ledger, so a re-read (or a
//!   redelivery) runs nothing twice, also across restarts.
//!
//! Announcements leave with a transaction id made from their outbox entry,
//! so a retry after a lost response is deduplicated by the homeserver.
//! Failed syncs are retried with backoff inside the adapter; 429 answers are
//! retried by the SDK after the server's `retry_after_ms`.

mod config;
pub mod format;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use matrix_sdk::authentication::matrix::MatrixSession;
use matrix_sdk::config::{RequestConfig, SyncSettings};
use matrix_sdk::deserialized_responses::TimelineEvent;
use matrix_sdk::ruma::api::client::filter::{FilterDefinition, RoomEventFilter, RoomFilter};
use matrix_sdk::ruma::api::client::sync::sync_events::v3::Filter;
use matrix_sdk::ruma::events::room::message::{
    AddMentions, ForwardThread, MessageFormat, MessageType, OriginalSyncRoomMessageEvent, Relation,
    RoomMessageEventContent,
};
use matrix_sdk::ruma::events::{
    AnySyncMessageLikeEvent, AnySyncTimelineEvent, Mentions, SyncMessageLikeEvent,
};
use matrix_sdk::ruma::{OwnedRoomId, OwnedTransactionId, OwnedUserId, RoomId, RoomOrAliasId, UInt};
use matrix_sdk::store::RoomLoadSettings;
use matrix_sdk::sync::SyncResponse;
use matrix_sdk::{Client, Room, RoomState, SessionMeta, SessionTokens};
use signalbox_commands::{ChannelAddr, Network, PlatformUserId};
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;

pub use self::config::{Config, Login, is_matrix_id};
use super::{Adapter, HealthBoard, SendError};
use crate::backoff::Backoff;
use crate::outbox::Destination;
use crate::router::{Inbound, Router};

/// Events per room one sync may carry before the server truncates the
/// timeline: enough for what piles up during a restart.
const TIMELINE_LIMIT: u32 = 200;
/// How long the server may hold a sync open when nothing happens.
const LONG_POLL: Duration = Duration::from_secs(30);

/// Why the adapter could not start a session.
#[derive(Debug, thiserror::Error)]
pub enum MatrixError {
    #[error("matrix store {path}: {message}")]
    Store { path: String, message: String },
    #[error("matrix login as {user}: {message}")]
    Login { user: String, message: String },
    #[error("matrix: {0}")]
    Sdk(String),
}

pub struct Matrix {
    config: Config,
    store: PathBuf,
    health: Option<HealthBoard>,
    client: OnceCell<Client>,
    /// What each room is called in channel addresses: the configured alias
    /// when the room was configured by one, else its id.
    names: Mutex<HashMap<OwnedRoomId, String>>,
    /// Aliases resolved to room ids.
    aliases: Mutex<HashMap<String, OwnedRoomId>>,
}

impl Matrix {
    /// `data_dir` is the bot's data directory; the store lives under it.
    pub fn new(config: Config, data_dir: &Path, health: Option<HealthBoard>) -> Self {
        let store = config.store_path(data_dir);
        Self {
            config,
            store,
            health,
            client: OnceCell::new(),
            names: Mutex::new(HashMap::new()),
            aliases: Mutex::new(HashMap::new()),
        }
    }

    /// The logged-in client, once a session is open.
    pub fn client(&self) -> Option<&Client> {
        self.client.get()
    }

    /// The bot's device id, once logged in.
    pub fn device_id(&self) -> Option<String> {
        self.client()
            .and_then(|c| c.device_id().map(|d| d.to_string()))
    }

    fn set_health(&self, state: &'static str, error: Option<String>) {
        if let Some(h) = &self.health {
            h.set(Network::Matrix, state, error);
        }
    }

    fn store_error(&self, message: impl std::fmt::Display) -> MatrixError {
        MatrixError::Store {
            path: self.store.display().to_string(),
            message: message.to_string(),
        }
    }

    /// Opens the store and the session: the saved one if there is one,
    /// else a new login whose session is saved.
    async fn connect(&self) -> Result<Client, MatrixError> {
        std::fs::create_dir_all(&self.store).map_err(|e| self.store_error(e))?;
        let client = Client::builder()
            .homeserver_url(&self.config.homeserver)
            .sqlite_store(&self.store, None)
            .request_config(
                RequestConfig::new()
                    .timeout(Duration::from_secs(30))
                    .max_retry_time(Duration::from_secs(120)),
            )
            .build()
            .await
            .map_err(|e| self.store_error(e))?;
        let login_error = |message: String| MatrixError::Login {
            user: self.config.user.clone(),
            message,
        };
        let session_file = self.store.join("session.json");
        let saved = match std::fs::read(&session_file) {
            Ok(bytes) => Some(
                serde_json::from_slice::<MatrixSession>(&bytes)
                    .map_err(|e| self.store_error(format!("session.json: {e}")))?,
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(self.store_error(e)),
        };
        let auth = client.matrix_auth();
        match (saved, self.config.login()) {
            (Some(session), _) => {
                if session.meta.user_id.as_str() != self.config.user {
                    return Err(self.store_error(format!(
                        "it holds the session of {}, not {}; remove it or set another store_dir",
                        session.meta.user_id, self.config.user
                    )));
                }
                auth.restore_session(session, RoomLoadSettings::default())
                    .await
                    .map_err(|e| login_error(e.to_string()))?;
            }
            (None, Some(Login::Password(password))) => {
                auth.login_username(&self.config.user, password)
                    .initial_device_display_name(&self.config.device_name)
                    .send()
                    .await
                    .map_err(|e| login_error(e.to_string()))?;
                let session = auth
                    .session()
                    .ok_or_else(|| login_error("no session after login".into()))?;
                let json = serde_json::to_vec(&session).map_err(|e| self.store_error(e))?;
                write_durably(&session_file, &json).map_err(|e| self.store_error(e))?;
            }
            (None, Some(Login::Token { token, device_id })) => {
                let user_id = OwnedUserId::try_from(self.config.user.as_str())
                    .map_err(|e| login_error(e.to_string()))?;
                let session = MatrixSession {
                    meta: SessionMeta {
                        user_id,
                        device_id: device_id.into(),
                    },
                    tokens: SessionTokens {
                        access_token: token.to_string(),
                        refresh_token: None,
                    },
                };
                auth.restore_session(session, RoomLoadSettings::default())
                    .await
                    .map_err(|e| login_error(e.to_string()))?;
            }
            (None, None) => return Err(login_error("no password or access token".into())),
        }
        Ok(client)
    }

    fn token_file(&self) -> PathBuf {
        self.store.join("sync-token")
    }

    fn saved_token(&self) -> Option<String> {
        std::fs::read_to_string(self.token_file())
            .ok()
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
    }

    fn save_token(&self, token: &str) -> Result<(), MatrixError> {
        write_durably(&self.token_file(), token.as_bytes()).map_err(|e| self.store_error(e))
    }

    fn settings(token: Option<String>) -> SyncSettings {
        let mut timeline = RoomEventFilter::default();
        timeline.limit = Some(UInt::from(TIMELINE_LIMIT));
        let mut room = RoomFilter::default();
        room.timeline = timeline;
        let mut filter = FilterDefinition::default();
        filter.room = room;
        let settings = SyncSettings::new()
            .filter(Filter::FilterDefinition(filter))
            .timeout(LONG_POLL);
        match token {
            Some(t) => settings.token(t),
            None => settings,
        }
    }

    /// Joins every configured room (a no-op for rooms already joined) and
    /// learns what each is called.
    async fn join_configured(&self, client: &Client) {
        for room in &self.config.rooms {
            let Ok(id) = RoomOrAliasId::parse(room) else {
                continue;
            };
            match client.join_room_by_id_or_alias(&id, &[]).await {
                Ok(joined) => {
                    self.names_lock()
                        .insert(joined.room_id().to_owned(), room.clone());
                    if room.starts_with('#') {
                        self.aliases_lock()
                            .insert(room.clone(), joined.room_id().to_owned());
                    }
                }
                Err(e) => tracing::warn!(room, "cannot join: {e}"),
            }
        }
    }

    fn names_lock(&self) -> std::sync::MutexGuard<'_, HashMap<OwnedRoomId, String>> {
        self.names
            .lock()
            .expect("matrix names lock is never poisoned: no panics while held")
    }

    fn aliases_lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, OwnedRoomId>> {
        self.aliases
            .lock()
            .expect("matrix aliases lock is never poisoned: no panics while held")
    }

    /// The channel address of a room.
    fn address(&self, room: &RoomId) -> ChannelAddr {
        let name = self
            .names_lock()
            .get(room)
            .cloned()
            .unwrap_or_else(|| room.to_string());
        ChannelAddr::new(Network::Matrix, name)
    }

    /// Accepts invites from people the config knows, and to configured rooms.
    async fn accept_invites(&self, client: &Client, resp: &SyncResponse, router: &Router) {
        for room_id in resp.rooms.invited.keys() {
            let Some(room) = client.get_room(room_id) else {
                continue;
            };
            let inviter = match room.invite_details().await {
                Ok(invite) => invite.inviter_id,
                Err(e) => {
                    tracing::warn!(%room_id, "cannot read the invite: {e}");
                    continue;
                }
            };
            let known = router
                .directory()
                .person(Network::Matrix, &PlatformUserId::new(inviter.as_str()))
                .is_some();
            let configured = self.config.rooms.iter().any(|r| r == room_id.as_str());
            if !(known || configured) {
                tracing::info!(%room_id, %inviter, "invite ignored: the inviter is not in [people]");
                continue;
            }
            match room.join().await {
                Ok(()) => tracing::info!(%room_id, %inviter, "joined on invite"),
                Err(e) => tracing::warn!(%room_id, "cannot join on invite: {e}"),
            }
        }
    }

    /// Passes every new message of a sync to the router, in order, and
    /// sends the replies.
    async fn handle(self: &Arc<Self>, client: &Client, resp: &SyncResponse, router: &Arc<Router>) {
        let me = client.user_id().map(ToOwned::to_owned);
        for (room_id, update) in &resp.rooms.joined {
            let Some(room) = client.get_room(room_id) else {
                continue;
            };
            for event in &update.timeline.events {
                let Some(msg) = command_message(event, me.as_deref()) else {
                    continue;
                };
                let text = match &msg.content.msgtype {
                    MessageType::Text(t) => t
                        .formatted
                        .as_ref()
                        .filter(|f| f.format == MessageFormat::Html)
                        .and_then(|f| format::pills_to_ids(&f.body))
                        .unwrap_or_else(|| format::command_text(&t.body).to_string()),
                    _ => continue,
                };
                let direct = room.is_direct().await.unwrap_or(false);
                let inbound = Inbound {
                    network: Network::Matrix,
                    channel: (!direct).then(|| self.address(room_id)),
                    user: PlatformUserId::new(msg.sender.as_str()),
                    text,
                    id: Some(msg.event_id.to_string()),
                    aliases: Vec::new(),
                };
                let Some(reply) = router.dispatch(&inbound).await else {
                    continue;
                };
                let room = room.clone();
                tokio::spawn(async move {
                    let content =
                        notice(&reply).make_reply_to(&msg, ForwardThread::Yes, AddMentions::Yes);
                    if let Err(e) = room.send(content).await {
                        tracing::warn!(room = %room.room_id(), "reply not sent: {e}");
                    }
                });
            }
        }
    }

    /// Syncs until shutdown; a failed sync is retried with backoff.
    async fn serve(
        self: &Arc<Self>,
        client: &Client,
        router: &Arc<Router>,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<()> {
        let mut token = self.saved_token();
        let min = Duration::from_millis(self.config.reconnect_min_ms);
        let max = Duration::from_millis(self.config.reconnect_max_ms);
        let mut backoff = Backoff::new(min, max);
        let mut healthy = false;
        let mut joined = false;
        loop {
            let first = token.is_none();
            let settings = if first {
                // History, not commands: read it without a long poll.
                Self::settings(None).timeout(Duration::ZERO)
            } else {
                Self::settings(token.clone())
            };
            let result = tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                r = client.sync_once(settings) => r,
            };
            let resp = match result {
                Ok(resp) => resp,
                Err(e) => {
                    let error = format!("sync failed: {e}");
                    let wait = backoff.failed();
                    tracing::warn!("{error}; retrying in {wait:?}");
                    self.set_health("reconnecting", Some(error));
                    healthy = false;
                    tokio::select! {
                        _ = shutdown.cancelled() => return Ok(()),
                        _ = tokio::time::sleep(wait) => {}
                    }
                    continue;
                }
            };
            if !healthy {
                self.set_health("connected", None);
                healthy = true;
            }
            backoff.succeeded();
            if !joined {
                self.join_configured(client).await;
                joined = true;
            }
            self.accept_invites(client, &resp, router).await;
            if !first {
                self.handle(client, &resp, router).await;
            }
            self.save_token(&resp.next_batch)?;
            token = Some(resp.next_batch);
        }
    }

    /// The joined room behind a channel address, joining it if needed.
    async fn room(&self, client: &Client, name: &str) -> Result<Room, SendError> {
        let failed = |e: matrix_sdk::Error| send_error(name, e);
        let known = if name.starts_with('#') {
            self.aliases_lock().get(name).cloned()
        } else {
            RoomId::parse(name).ok()
        };
        if let Some(id) = &known
            && let Some(room) = client.get_room(id)
            && room.state() == RoomState::Joined
        {
            return Ok(room);
        }
        let target = RoomOrAliasId::parse(name)
            .map_err(|e| SendError::Rejected(format!("\"{name}\" is not a room: {e}")))?;
        let room = client
            .join_room_by_id_or_alias(&target, &[])
            .await
            .map_err(failed)?;
        self.names_lock()
            .insert(room.room_id().to_owned(), name.to_string());
        if name.starts_with('#') {
            self.aliases_lock()
                .insert(name.to_string(), room.room_id().to_owned());
        }
        Ok(room)
    }

    /// The DM room with `user`, created (encrypted) when there is none.
    async fn direct_room(&self, client: &Client, user: &str) -> Result<Room, SendError> {
        let user_id = OwnedUserId::try_from(user)
            .map_err(|e| SendError::Rejected(format!("\"{user}\" is not a matrix id: {e}")))?;
        if let Some(room) = client.get_dm_room(&user_id) {
            return Ok(room);
        }
        // Synapse lets a room be made for anyone, so a DM to a user it does
        // not have would land in an empty room and count as delivered: ask
        // for the profile first (404 for nobody), so it is refused instead.
        client
            .account()
            .fetch_user_profile_of(&user_id)
            .await
            .map_err(|e| send_error(&format!("a DM with {user}"), e))?;
        client
            .create_dm(&user_id)
            .await
            .map_err(|e| send_error(&format!("a DM with {user}"), e))
    }

    async fn send_with(
        &self,
        to: &Destination,
        text: &str,
        txn: Option<&str>,
    ) -> Result<(), SendError> {
        let client = self.client().ok_or(SendError::Disconnected)?;
        if !client.is_active() {
            return Err(SendError::Disconnected);
        }
        let room = match to {
            Destination::Channel(c) | Destination::Topic(c) => {
                self.room(client, c.channel()).await?
            }
            Destination::Direct { user, .. } => self.direct_room(client, user.as_str()).await?,
        };
        let failed = |e: matrix_sdk::Error| send_error(&to.to_string(), e);
        if let Destination::Topic(_) = to {
            return room
                .set_room_topic(&format::body(text))
                .await
                .map(|_| ())
                .map_err(failed);
        }
        let send = room.send(notice(text));
        let send = match txn {
            Some(txn) => send.with_transaction_id(OwnedTransactionId::from(txn.to_string())),
            None => send,
        };
        send.await.map(|_| ()).map_err(failed)
    }
}

/// A homeserver failure as the outbox sees it (`SendError::from_status`):
/// an unknown room or alias, or one the bot may not join or post in, is
/// dropped; 429s never get here (the SDK retries them itself).
fn send_error(what: &str, e: matrix_sdk::Error) -> SendError {
    let status = e.as_client_api_error().map(|api| api.status_code.as_u16());
    SendError::from_status(status, format!("{what}: {e}"))
}

/// A user's `m.room.message` worth reading as a command: not the bot's own,
/// not an edit, not a notice (bots talk in notices).
fn command_message(
    event: &TimelineEvent,
    me: Option<&matrix_sdk::ruma::UserId>,
) -> Option<OriginalSyncRoomMessageEvent> {
    if event.kind.is_utd() {
        tracing::warn!(event = ?event.event_id(), "a message could not be decrypted");
        return None;
    }
    let Ok(AnySyncTimelineEvent::MessageLike(AnySyncMessageLikeEvent::RoomMessage(
        SyncMessageLikeEvent::Original(msg),
    ))) = event.raw().deserialize()
    else {
        return None;
    };
    if Some(msg.sender.as_ref()) == me
        || matches!(msg.content.relates_to, Some(Relation::Replacement(_)))
    {
        return None;
    }
    Some(msg)
}

/// A bot message: `m.notice` with plain and HTML bodies; each mention a
/// pill in the HTML and a user id in `m.mentions`, so exactly those people
/// are notified.
fn notice(text: &str) -> RoomMessageEventContent {
    let users: Vec<OwnedUserId> = format::mentioned(text)
        .iter()
        .filter_map(|u| OwnedUserId::try_from(u.as_str()).ok())
        .collect();
    RoomMessageEventContent::notice_html(format::body(text), format::html_with_pills(text))
        .add_mentions(Mentions::with_user_ids(users))
}

/// Writes `bytes` to `path` so that a crash leaves either the old or the new
/// content: a temporary file, fsync, rename.
fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[async_trait]
impl Adapter for Matrix {
    fn network(&self) -> Network {
        Network::Matrix
    }

    async fn run(
        self: Arc<Self>,
        router: Arc<Router>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let client = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            c = self.client.get_or_try_init(|| self.connect()) => c?.clone(),
        };
        self.serve(&client, &router, &shutdown).await
    }

    async fn send(&self, to: &Destination, text: &str) -> Result<(), SendError> {
        self.send_with(to, text, None).await
    }

    /// The key is the transaction id, so Synapse answers a resend (after a
    /// lost answer, or a crash and restart with the same session) with the
    /// event it already has; no in-flight mark is needed.
    async fn send_once(
        &self,
        to: &Destination,
        text: &str,
        key: &str,
        _in_flight: bool,
    ) -> Result<(), SendError> {
        self.send_with(to, text, Some(&format!("signalbox-{key}")))
            .await
    }
}
