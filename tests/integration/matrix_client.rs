//! A real Matrix homeserver for the tests (Synapse from PyPI, started by
//! scripts/matrix-server on a free loopback port in a temp dir, SQLite,
//! users registered by shared secret) and a test user on `matrix-sdk`
//! itself, with its own in-memory crypto store, that syncs, creates rooms,
//! talks and waits for what the bot says.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use matrix_sdk::config::SyncSettings;
use matrix_sdk::ruma::api::client::room::create_room::v3::Request as CreateRoom;
use matrix_sdk::ruma::events::room::encryption::RoomEncryptionEventContent;
use matrix_sdk::ruma::events::room::message::{
    MessageType, OriginalSyncRoomMessageEvent, RoomMessageEventContent,
};
use matrix_sdk::ruma::events::{
    AnySyncMessageLikeEvent, AnySyncTimelineEvent, InitialStateEvent, SyncMessageLikeEvent,
};
use matrix_sdk::ruma::{OwnedEventId, OwnedRoomId, OwnedUserId, RoomId, UserId};
use matrix_sdk::{Client, RoomMemberships};
use signalbox::Bot;
use signalbox::adapter::{self, matrix::Matrix};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How long a test waits for one thing on the homeserver.
pub const WAIT: Duration = Duration::from_secs(30);
pub const PASSWORD: &str = "correct-horse-battery";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/matrix-server")
}

fn run(args: &[&str]) {
    let out = Command::new(script())
        .args(args)
        .output()
        .expect("run scripts/matrix-server");
    assert!(
        out.status.success(),
        "scripts/matrix-server {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Synapse on loopback; stopped on drop.
pub struct Homeserver {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub server_name: String,
}

impl Homeserver {
    pub fn start() -> Homeserver {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let path = dir.path().display().to_string();
        run(&["start", &path, &port.to_string()]);
        let config = std::fs::read_to_string(dir.path().join("homeserver.yaml"))
            .expect("the script wrote homeserver.yaml");
        let server_name = config
            .lines()
            .find_map(|l| l.strip_prefix("server_name:"))
            .map(|v| v.trim().trim_matches(['"', '\'']).to_string())
            .expect("homeserver.yaml names the server");
        Homeserver {
            dir,
            port,
            server_name,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `@name:server` for a local user.
    pub fn user_id(&self, name: &str) -> OwnedUserId {
        OwnedUserId::try_from(format!("@{name}:{}", self.server_name)).expect("user id")
    }

    /// Creates a user (shared-secret registration).
    pub fn register(&self, name: &str) {
        let path = self.dir.path().display().to_string();
        run(&["register", &path, &self.port.to_string(), name, PASSWORD]);
    }

    /// Creates a server admin (who may call `/_synapse/admin`).
    pub fn register_admin(&self, name: &str) {
        let path = self.dir.path().display().to_string();
        run(&[
            "register",
            &path,
            &self.port.to_string(),
            name,
            PASSWORD,
            "admin",
        ]);
    }

    pub fn stop(&self) {
        run(&["stop", &self.dir.path().display().to_string()]);
    }

    /// Starts Synapse again on the same port and database.
    pub fn restart(&self) {
        let path = self.dir.path().display().to_string();
        run(&["restart", &path, &self.port.to_string()]);
    }
}

impl Drop for Homeserver {
    fn drop(&mut self) {
        let _ = Command::new(script())
            .arg("stop")
            .arg(self.dir.path())
            .output();
    }
}

/// Starts the bot's Matrix adapter (as configured in its config) with its
/// outbox delivery; both stop when the token is cancelled. The adapter is
/// handed back too, for tests that call `send` on it directly.
pub fn start_adapter(bot: &Bot) -> (Arc<Matrix>, CancellationToken) {
    let config = bot
        .config
        .adapters
        .matrix
        .clone()
        .expect("[adapters.matrix] configured");
    let matrix = Arc::new(Matrix::new(
        config,
        &bot.config.bot.data_dir,
        Some(bot.health.clone()),
    ));
    let shutdown = CancellationToken::new();
    bot.deliver(matrix.clone(), &shutdown);
    tokio::spawn(adapter::supervise(
        matrix.clone(),
        bot.router.clone(),
        bot.health.clone(),
        shutdown.clone(),
    ));
    (matrix, shutdown)
}

/// A person's client.
pub struct User {
    pub client: Client,
    pub id: OwnedUserId,
    token: Option<String>,
    /// Messages seen by syncs and not yet taken by a wait.
    seen: Vec<(OwnedRoomId, OriginalSyncRoomMessageEvent)>,
}

impl User {
    /// Registers `name` and logs in; the first sync has run.
    pub async fn new(hs: &Homeserver, name: &str) -> User {
        hs.register(name);
        let client = Client::builder()
            .homeserver_url(hs.url())
            .build()
            .await
            .expect("client");
        client
            .matrix_auth()
            .login_username(name, PASSWORD)
            .initial_device_display_name("test")
            .send()
            .await
            .expect("login");
        let mut user = User {
            client,
            id: hs.user_id(name),
            token: None,
            seen: Vec::new(),
        };
        user.sync(Duration::ZERO).await;
        user.seen.clear();
        user
    }

    /// One sync (long-polling up to `timeout`); new messages are kept.
    pub async fn sync(&mut self, timeout: Duration) {
        let mut settings = SyncSettings::new().timeout(timeout);
        if let Some(t) = &self.token {
            settings = settings.token(t.clone());
        }
        let resp = self.client.sync_once(settings).await.expect("sync");
        for (room, update) in resp.rooms.joined {
            for event in update.timeline.events {
                if let Ok(AnySyncTimelineEvent::MessageLike(
                    AnySyncMessageLikeEvent::RoomMessage(SyncMessageLikeEvent::Original(m)),
                )) = event.raw().deserialize()
                {
                    self.seen.push((room.clone(), m));
                }
            }
        }
        self.token = Some(resp.next_batch);
    }

    /// Creates a room (encrypted or not) inviting `invite`.
    pub async fn create_room(&mut self, encrypted: bool, invite: &[&UserId]) -> OwnedRoomId {
        let mut request = CreateRoom::new();
        request.invite = invite.iter().map(|u| (*u).to_owned()).collect();
        if encrypted {
            request.initial_state = vec![
                InitialStateEvent::with_empty_state_key(
                    RoomEncryptionEventContent::with_recommended_defaults(),
                )
                .to_raw_any(),
            ];
        }
        let room = self.client.create_room(request).await.expect("create room");
        room.room_id().to_owned()
    }

    /// Joins a room by id (after an invite).
    pub async fn join(&mut self, room: &RoomId) {
        self.client.join_room_by_id(room).await.expect("join");
    }

    /// Waits until `who` has joined `room`.
    pub async fn wait_joined(&mut self, room: &RoomId, who: &UserId) {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if let Some(r) = self.client.get_room(room)
                && let Ok(members) = r.members(RoomMemberships::JOIN).await
                && members.iter().any(|m| m.user_id() == who)
            {
                return;
            }
            self.sync(Duration::from_millis(500)).await;
        }
        panic!("{who} did not join {room} within {WAIT:?}");
    }

    /// Says `text` in `room`; the event id.
    pub async fn say(&self, room: &RoomId, text: &str) -> OwnedEventId {
        let room = self.client.get_room(room).expect("a room the user is in");
        room.send(RoomMessageEventContent::text_plain(text))
            .await
            .expect("send")
            .response
            .event_id
    }

    /// Waits for a message from `from` in `room` whose body satisfies
    /// `wanted`; earlier messages that do not are dropped.
    pub async fn wait_for(
        &mut self,
        room: &RoomId,
        from: &UserId,
        wanted: impl Fn(&str) -> bool,
    ) -> OriginalSyncRoomMessageEvent {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(i) = self
                .seen
                .iter()
                .position(|(r, m)| r == room && m.sender == from && wanted(body(m)))
            {
                return self.seen.remove(i).1;
            }
            assert!(
                Instant::now() < deadline,
                "no matching message from {from} in {room} within {WAIT:?}; saw {:?}",
                self.seen.iter().map(|(_, m)| body(m)).collect::<Vec<_>>()
            );
            self.sync(Duration::from_millis(500)).await;
        }
    }

    /// Every message from `from` in `room` seen during `span` (and before).
    pub async fn collect(
        &mut self,
        room: &RoomId,
        from: &UserId,
        span: Duration,
    ) -> Vec<OriginalSyncRoomMessageEvent> {
        let deadline = Instant::now() + span;
        while Instant::now() < deadline {
            self.sync(Duration::from_millis(500)).await;
        }
        let (mine, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.seen)
            .into_iter()
            .partition(|(r, m)| r == room && m.sender == from);
        self.seen = rest;
        mine.into_iter().map(|(_, m)| m).collect()
    }
}

/// The plain body of a message.
pub fn body(m: &OriginalSyncRoomMessageEvent) -> &str {
    m.content.body()
}

/// Whether a message is an `m.notice` (how bots talk).
pub fn is_notice(m: &OriginalSyncRoomMessageEvent) -> bool {
    matches!(m.content.msgtype, MessageType::Notice(_))
}
