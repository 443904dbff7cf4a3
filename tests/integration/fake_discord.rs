//! An in-repo fake of Discord, speaking the documented wire formats on
//! 127.0.0.1: REST (`/api/v10/…`, reached through serenity's proxy setting)
//! and a gateway websocket (HELLO, IDENTIFY → READY, heartbeat ACKs,
//! dispatches with sequence numbers, RESUME with replay of what was missed).
//! It records every REST request so tests can assert what the bot sent, and
//! can drop the gateway connection or answer 429 on demand.
//!
//! Creating a message honours `nonce` and `enforce_nonce` as Discord
//! documents them: a nonce is an integer or a string of at most 25
//! characters, and with `enforce_nonce` a second create with a nonce the
//! bot already used answers the message that nonce made, creating nothing.
//! [`FakeDiscord::created`] lists the messages a channel really got.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as Frame;

pub const APP: &str = "900000000000000001";
pub const BOT: &str = "900000000000000002";
pub const GUILD: &str = "300000000000000001";
pub const CHANNEL: &str = "400000000000000001";
pub const ANNOUNCE: &str = "400000000000000002";
pub const DM: &str = "400000000000000003";
/// A channel the fake answers 404 Unknown Channel for, as for a deleted one.
pub const GONE: &str = "400000000000000404";
/// A user who takes no DMs from the bot (Discord's 50007).
pub const GONE_USER: &str = "400000000000000403";
/// Alice's Discord id in the shipped example config (admin, sheriff).
pub const ALICE: &str = "100000000000000001";
/// A Discord user nobody mapped to a person.
pub const STRANGER: &str = "100000000000000099";

/// One REST request the bot made.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub body: Value,
    /// What the fake answered.
    pub status: u16,
}

enum Out {
    Frame(String),
    Drop,
}

#[derive(Default)]
struct Inner {
    requests: Vec<Recorded>,
    rate_limit_next: usize,
    seq: u64,
    /// Every dispatch with its sequence number, for RESUME replays.
    history: Vec<(u64, String)>,
    session: u64,
    conn: Option<mpsc::UnboundedSender<Out>>,
    identifies: usize,
    resumes: usize,
    heartbeats: usize,
    intents: Option<u64>,
    next_id: u64,
    /// Messages created, oldest first: channel and message.
    created: Vec<(String, Value)>,
    /// A nonce → the message it created.
    nonces: HashMap<String, Value>,
}

#[derive(Clone)]
pub struct FakeDiscord {
    pub rest: SocketAddr,
    pub gateway: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

impl FakeDiscord {
    pub async fn start() -> FakeDiscord {
        let rest_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind rest");
        let ws_listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind gateway");
        let fake = FakeDiscord {
            rest: rest_listener.local_addr().expect("addr"),
            gateway: ws_listener.local_addr().expect("addr"),
            inner: Arc::new(Mutex::new(Inner {
                next_id: 500_000_000_000_000_000,
                ..Inner::default()
            })),
        };
        let app = axum::Router::new().fallback(rest).with_state(fake.clone());
        tokio::spawn(async move {
            let _ = axum::serve(rest_listener, app).await;
        });
        let gw = fake.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = ws_listener.accept().await {
                tokio::spawn(gw.clone().connection(stream));
            }
        });
        fake
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("fake state lock")
    }

    pub fn api_url(&self) -> String {
        format!("http://{}", self.rest)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    /// The messages created in a channel (a deduplicated create adds
    /// none), oldest first.
    pub fn created(&self, channel: &str) -> Vec<Value> {
        self.lock()
            .created
            .iter()
            .filter(|(c, _)| c == channel)
            .map(|(_, m)| m.clone())
            .collect()
    }

    pub fn identifies(&self) -> usize {
        self.lock().identifies
    }

    pub fn resumes(&self) -> usize {
        self.lock().resumes
    }

    pub fn heartbeats(&self) -> usize {
        self.lock().heartbeats
    }

    pub fn intents(&self) -> Option<u64> {
        self.lock().intents
    }

    pub fn connected(&self) -> bool {
        self.lock().conn.is_some()
    }

    /// The next `n` channel message posts are answered 429.
    pub fn rate_limit_next(&self, n: usize) {
        self.lock().rate_limit_next = n;
    }

    /// Sends a gateway dispatch (or keeps it for the resume replay when no
    /// connection is up).
    pub fn dispatch(&self, event: &str, data: Value) {
        let mut inner = self.lock();
        inner.seq += 1;
        let frame = json!({ "op": 0, "s": inner.seq, "t": event, "d": data }).to_string();
        let seq = inner.seq;
        inner.history.push((seq, frame.clone()));
        if let Some(conn) = &inner.conn {
            let _ = conn.send(Out::Frame(frame));
        }
    }

    /// Like [`FakeDiscord::dispatch`], with the payload's JSON text given
    /// as it is (JSON a `Value` cannot hold, e.g. an escaped lone surrogate).
    pub fn dispatch_raw(&self, event: &str, data: &str) {
        let mut inner = self.lock();
        inner.seq += 1;
        let frame = format!(r#"{{"op":0,"s":{},"t":"{event}","d":{data}}}"#, inner.seq);
        let seq = inner.seq;
        inner.history.push((seq, frame.clone()));
        if let Some(conn) = &inner.conn {
            let _ = conn.send(Out::Frame(frame));
        }
    }

    /// Cuts the gateway connection without a close frame, as a network
    /// failure would.
    pub fn drop_gateway(&self) {
        if let Some(conn) = self.lock().conn.take() {
            let _ = conn.send(Out::Drop);
        }
    }

    /// Waits (up to 10 s) for a REST request matching `pred`.
    pub async fn wait_for(&self, what: &str, pred: impl Fn(&Recorded) -> bool) -> Recorded {
        for _ in 0..1000 {
            if let Some(r) = self.requests().into_iter().find(|r| pred(r)) {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "timed out waiting for {what}; requests: {:#?}",
            self.requests()
        );
    }

    /// Waits (up to 10 s) for `check`.
    pub async fn until(&self, what: &str, check: impl Fn(&FakeDiscord) -> bool) {
        for _ in 0..1000 {
            if check(self) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("timed out waiting for {what}");
    }

    async fn connection(self, stream: TcpStream) {
        let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
            return;
        };
        let (mut sink, mut source) = ws.split();
        let hello = json!({ "op": 10, "s": null, "t": null, "d": { "heartbeat_interval": 1000 } });
        if sink.send(Frame::text(hello.to_string())).await.is_err() {
            return;
        }
        // The first payload that is not a heartbeat: IDENTIFY or RESUME.
        let start = loop {
            let Some(Ok(frame)) = source.next().await else {
                return;
            };
            let Ok(text) = frame.to_text() else { continue };
            let Ok(payload) = serde_json::from_str::<Value>(text) else {
                continue;
            };
            if payload["op"] == 1 {
                self.lock().heartbeats += 1;
                let _ = sink
                    .send(Frame::text(json!({ "op": 11 }).to_string()))
                    .await;
                continue;
            }
            break payload;
        };
        let (tx, mut rx) = mpsc::unbounded_channel();
        let opening: Vec<String> = {
            let mut inner = self.lock();
            let mut frames = Vec::new();
            match start["op"].as_u64() {
                Some(2) => {
                    inner.identifies += 1;
                    inner.intents = start["d"]["intents"].as_u64();
                    inner.session += 1;
                    inner.seq += 1;
                    let ready = json!({
                        "op": 0, "s": inner.seq, "t": "READY",
                        "d": {
                            "v": 10,
                            "user": bot_user(),
                            "guilds": [{ "id": GUILD, "unavailable": true }],
                            "session_id": format!("session-{}", inner.session),
                            "resume_gateway_url": format!("ws://{}", self.gateway),
                            "shard": [0, 1],
                            "application": { "id": APP, "flags": 0 },
                        }
                    });
                    frames.push(ready.to_string());
                }
                Some(6) => {
                    inner.resumes += 1;
                    let after = start["d"]["seq"].as_u64().unwrap_or(0);
                    frames.extend(
                        inner
                            .history
                            .iter()
                            .filter(|(s, _)| *s > after)
                            .map(|(_, f)| f.clone()),
                    );
                    inner.seq += 1;
                    frames.push(
                        json!({ "op": 0, "s": inner.seq, "t": "RESUMED", "d": {} }).to_string(),
                    );
                }
                _ => return,
            }
            inner.conn = Some(tx);
            frames
        };
        for frame in opening {
            if sink.send(Frame::text(frame)).await.is_err() {
                return;
            }
        }
        loop {
            tokio::select! {
                out = rx.recv() => match out {
                    Some(Out::Frame(frame)) => {
                        if sink.send(Frame::text(frame)).await.is_err() {
                            return;
                        }
                    }
                    // Dropping both halves closes the socket with no close frame.
                    Some(Out::Drop) | None => return,
                },
                frame = source.next() => {
                    let Some(Ok(frame)) = frame else { return };
                    let Ok(text) = frame.to_text() else { continue };
                    let Ok(payload) = serde_json::from_str::<Value>(text) else { continue };
                    if payload["op"] == 1 {
                        self.lock().heartbeats += 1;
                        if sink.send(Frame::text(json!({ "op": 11 }).to_string())).await.is_err() {
                            return;
                        }
                    }
                }
            }
        }
    }
}

pub fn bot_user() -> Value {
    json!({
        "id": BOT, "username": "signalbox", "discriminator": "0", "global_name": null,
        "avatar": null, "bot": true, "verified": true, "mfa_enabled": false, "flags": 0
    })
}

pub fn user(id: &str) -> Value {
    json!({
        "id": id, "username": format!("user{id}"), "discriminator": "0",
        "global_name": null, "avatar": null
    })
}

/// A MESSAGE_CREATE payload; `guild` false makes it a direct message.
pub fn message(id: u64, channel: &str, author: &str, content: &str, guild: bool) -> Value {
    let mut m = json!({
        "id": id.to_string(), "channel_id": channel, "author": user(author),
        "content": content, "timestamp": "2026-11-22T10:00:00.000000+00:00",
        "edited_timestamp": null, "tts": false, "mention_everyone": false,
        "mentions": [], "mention_roles": [], "attachments": [], "embeds": [],
        "pinned": false, "type": 0, "flags": 0
    });
    if guild {
        m["guild_id"] = json!(GUILD);
    }
    m
}

/// An application-command interaction: `/command verb name:value…`.
pub fn interaction(
    id: u64,
    from: &str,
    command: &str,
    verb: Option<&str>,
    options: Value,
) -> Value {
    let options = match verb {
        Some(verb) => json!([{ "name": verb, "type": 1, "options": options }]),
        None => options,
    };
    json!({
        "id": id.to_string(), "application_id": APP, "type": 2,
        "token": format!("token-{id}"), "version": 1,
        "data": { "id": "600000000000000001", "name": command, "type": 1, "options": options },
        "guild_id": GUILD, "channel_id": CHANNEL,
        "member": {
            "user": user(from), "roles": [], "joined_at": "2025-01-01T00:00:00.000000+00:00",
            "deaf": false, "mute": false, "flags": 0, "permissions": "0"
        },
        "app_permissions": "0", "locale": "en-US", "guild_locale": "en-US",
        "entitlements": [], "authorizing_integration_owners": { "0": GUILD },
        "context": 0, "attachment_size_limit": 10485760
    })
}

fn message_reply(id: u64, channel: &str, body: &Value) -> Value {
    json!({
        "id": id.to_string(), "channel_id": channel, "author": bot_user(),
        "content": body["content"].as_str().unwrap_or(""),
        "timestamp": "2026-11-22T10:00:01.000000+00:00", "edited_timestamp": null,
        "tts": false, "mention_everyone": false, "mentions": [], "mention_roles": [],
        "attachments": [], "embeds": [], "pinned": false, "type": 0,
        "flags": body["flags"].as_u64().unwrap_or(0)
    })
}

/// `POST /channels/{id}/messages`, with Discord's nonce rules.
fn create_message(
    inner: &mut Inner,
    id: u64,
    channel: &str,
    body: &Value,
) -> (StatusCode, Option<Value>) {
    let nonce = match &body["nonce"] {
        Value::Null => None,
        Value::String(s) if s.chars().count() > 25 => {
            return (
                StatusCode::BAD_REQUEST,
                Some(json!({
                    "code": 50035, "message": "Invalid Form Body",
                    "errors": { "nonce": { "_errors": [{ "code": "BASE_TYPE_BAD_LENGTH", "message": "Must be 25 or fewer in length." }] } }
                })),
            );
        }
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => {
            return (
                StatusCode::BAD_REQUEST,
                Some(json!({ "code": 50035, "message": "Invalid Form Body" })),
            );
        }
    };
    let enforce = body["enforce_nonce"] == json!(true);
    if enforce && let Some(existing) = nonce.as_ref().and_then(|n| inner.nonces.get(n)) {
        return (StatusCode::OK, Some(existing.clone()));
    }
    let mut message = message_reply(id, channel, body);
    if let Some(n) = &nonce {
        message["nonce"] = body["nonce"].clone();
        inner.nonces.insert(n.clone(), message.clone());
    }
    inner.created.push((channel.to_string(), message.clone()));
    (StatusCode::OK, Some(message))
}

async fn rest(State(fake): State<FakeDiscord>, method: Method, uri: Uri, body: Bytes) -> Response {
    let path = uri.path().to_string();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let parts: Vec<&str> = path.trim_start_matches("/api/v10/").split('/').collect();
    let mut inner = fake.lock();
    inner.next_id += 1;
    let id = inner.next_id;
    let (status, answer): (StatusCode, Option<Value>) = match (method.as_str(), parts.as_slice()) {
        ("GET", ["gateway"]) => (
            StatusCode::OK,
            Some(json!({ "url": format!("ws://{}", fake.gateway) })),
        ),
        ("GET", ["gateway", "bot"]) => (
            StatusCode::OK,
            Some(json!({
                "url": format!("ws://{}", fake.gateway), "shards": 1,
                "session_start_limit": { "total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1 }
            })),
        ),
        ("PUT", ["applications", app, rest @ ..]) => {
            let guild = match rest {
                ["guilds", g, "commands"] => Some(g.to_string()),
                _ => None,
            };
            let commands: Vec<Value> = body
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .enumerate()
                .map(|(i, mut c)| {
                    c["id"] = json!(format!("{}", id + 1000 + i as u64));
                    c["application_id"] = json!(app);
                    c["version"] = json!("1");
                    c["default_member_permissions"] = Value::Null;
                    if let Some(g) = &guild {
                        c["guild_id"] = json!(g);
                    }
                    c
                })
                .collect();
            (StatusCode::OK, Some(Value::Array(commands)))
        }
        ("POST", ["interactions", _, _, "callback"]) => (StatusCode::NO_CONTENT, None),
        ("PATCH", ["webhooks", _, _, "messages", "@original"]) => {
            (StatusCode::OK, Some(message_reply(id, CHANNEL, &body)))
        }
        ("DELETE", ["webhooks", _, _, "messages", "@original"]) => (StatusCode::NO_CONTENT, None),
        ("POST", ["webhooks", _, _]) => (StatusCode::OK, Some(message_reply(id, CHANNEL, &body))),
        ("POST", ["channels", GONE, "messages"]) => (
            StatusCode::NOT_FOUND,
            Some(json!({ "code": 10003, "message": "Unknown Channel" })),
        ),
        ("POST", ["channels", channel, "messages"]) => {
            if inner.rate_limit_next > 0 {
                inner.rate_limit_next -= 1;
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    Some(
                        json!({ "message": "You are being rate limited.", "retry_after": 0.2, "global": false }),
                    ),
                )
            } else {
                create_message(&mut inner, id, channel, &body)
            }
        }
        ("PATCH", ["channels", GONE]) => (
            StatusCode::NOT_FOUND,
            Some(json!({ "code": 10003, "message": "Unknown Channel" })),
        ),
        ("POST", ["users", "@me", "channels"]) if body["recipient_id"] == GONE_USER => (
            StatusCode::BAD_REQUEST,
            Some(json!({ "code": 50007, "message": "Cannot send messages to this user" })),
        ),
        ("PATCH", ["channels", channel]) => (
            StatusCode::OK,
            Some(json!({
                "id": channel, "type": 0, "guild_id": GUILD, "name": "releng", "position": 0,
                "permission_overwrites": [], "topic": body["topic"], "nsfw": false,
                "last_message_id": null, "parent_id": null, "rate_limit_per_user": 0
            })),
        ),
        ("POST", ["users", "@me", "channels"]) => (
            StatusCode::OK,
            Some(json!({
                "id": DM, "type": 1, "last_message_id": null,
                "recipients": [user(body["recipient_id"].as_str().unwrap_or(ALICE))]
            })),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            Some(
                json!({ "code": 0, "message": format!("fake discord: no route {method} {path}") }),
            ),
        ),
    };
    inner.requests.push(Recorded {
        method: method.to_string(),
        path: path.clone(),
        body,
        status: status.as_u16(),
    });
    let mut response = match answer {
        Some(v) => (status, axum::Json(v)).into_response(),
        None => status.into_response(),
    };
    if status == StatusCode::TOO_MANY_REQUESTS {
        response
            .headers_mut()
            .insert("retry-after", axum::http::HeaderValue::from_static("0.2"));
    }
    response
}
