//! A fake Slack on loopback that speaks the documented wire formats: the Web
//! API methods the adapter uses (`POST /api/METHOD`, JSON, bearer token),
//! `response_url` hooks (`POST /hooks/N`), and a Socket Mode websocket
//! (handed out by `apps.connections.open`) that greets with `hello`, pushes
//! envelopes, records acknowledgements, and sends `disconnect`.
//!
//! It records every call so tests can assert what the bot said, where, and
//! how often; `rate_limit_next` makes the next `chat.postMessage` calls
//! answer 429 with `Retry-After: 1`, as Slack does, and `slow_posts` makes
//! every post take a while to answer (a slow network), after it is kept.
//!
//! Posted messages are kept per conversation with a `ts` of their own and
//! any `metadata`, and `conversations.history` (a GET with query
//! parameters) serves them newest first, within `oldest`/`latest` and
//! `limit`, with their metadata only under `include_all_metadata`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

/// One Web API call.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub token: String,
    pub body: Value,
    pub at: Instant,
    /// The status the fake answered with.
    pub status: u16,
}

#[derive(Default)]
struct Shared {
    calls: Mutex<Vec<Call>>,
    hooks: Mutex<Vec<(String, Value)>>,
    rate_limited: AtomicUsize,
    connections: AtomicUsize,
    acks: Mutex<Vec<String>>,
    current: Mutex<Option<mpsc::UnboundedSender<Message>>>,
    ws: Mutex<Option<SocketAddr>>,
    /// Posted messages, oldest first: conversation and message.
    messages: Mutex<Vec<(String, Value)>>,
    /// How long `chat.postMessage` waits before answering.
    post_delay: Mutex<std::time::Duration>,
}

pub struct FakeSlack {
    pub api: SocketAddr,
    shared: Arc<Shared>,
    stop: CancellationToken,
}

impl Drop for FakeSlack {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Text as Slack delivers what a user typed: `&`, `<` and `>` escaped
/// (links, channels and mentions are added by the caller in Slack's
/// `<…>` form).
pub fn escaped(typed: &str) -> String {
    typed
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

impl FakeSlack {
    pub async fn start() -> FakeSlack {
        let shared = Arc::new(Shared::default());
        let stop = CancellationToken::new();
        let ws = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind ws");
        *shared.ws.lock().expect("lock") = Some(ws.local_addr().expect("ws addr"));
        tokio::spawn(serve_ws(ws, shared.clone(), stop.clone()));
        let http = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind api");
        let api = http.local_addr().expect("api addr");
        let app = axum::Router::new()
            .route("/api/{method}", post(web_api).get(web_api_get))
            .route("/hooks/{id}", post(hook))
            .with_state(shared.clone());
        let until = stop.clone();
        tokio::spawn(async move {
            let _ = axum::serve(http, app)
                .with_graceful_shutdown(until.cancelled_owned())
                .await;
        });
        FakeSlack { api, shared, stop }
    }

    /// The Web API base URL to configure.
    pub fn api_url(&self) -> String {
        format!("http://{}/api", self.api)
    }

    /// A `response_url` for one command.
    pub fn hook_url(&self, id: &str) -> String {
        format!("http://{}/hooks/{id}", self.api)
    }

    pub fn calls(&self, method: &str) -> Vec<Call> {
        self.shared
            .calls
            .lock()
            .expect("lock")
            .iter()
            .filter(|c| c.method == method)
            .cloned()
            .collect()
    }

    /// Bodies posted to one `response_url`.
    pub fn hook(&self, id: &str) -> Vec<Value> {
        self.shared
            .hooks
            .lock()
            .expect("lock")
            .iter()
            .filter(|(h, _)| h == id)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// The messages a conversation holds, oldest first.
    pub fn messages(&self, channel: &str) -> Vec<Value> {
        self.shared
            .messages
            .lock()
            .expect("lock")
            .iter()
            .filter(|(c, _)| c == channel)
            .map(|(_, m)| m.clone())
            .collect()
    }

    pub fn acks(&self) -> Vec<String> {
        self.shared.acks.lock().expect("lock").clone()
    }

    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    pub fn rate_limit_next(&self, n: usize) {
        self.shared.rate_limited.store(n, Ordering::SeqCst);
    }

    /// Every `chat.postMessage` from now on is answered `delay` after the
    /// message is kept.
    pub fn slow_posts(&self, delay: std::time::Duration) {
        *self.shared.post_delay.lock().expect("lock") = delay;
    }

    /// Sends a frame on the current Socket Mode connection.
    pub fn push(&self, envelope: Value) {
        let current = self.shared.current.lock().expect("lock");
        let sender = current.as_ref().expect("a socket mode connection is open");
        sender
            .send(Message::Text(envelope.to_string().into()))
            .expect("connection task alive");
    }

    /// Sends `text` as it is as a frame: JSON a `Value` cannot hold (an
    /// escaped lone surrogate, which is valid JSON but not UTF-8 text).
    pub fn push_raw(&self, text: &str) {
        let current = self.shared.current.lock().expect("lock");
        let sender = current.as_ref().expect("a socket mode connection is open");
        sender
            .send(Message::Text(text.to_string().into()))
            .expect("connection task alive");
    }

    /// A `slash_commands` envelope, its `response_url` named after its id.
    pub fn slash(&self, envelope_id: &str, command: &str, text: &str, user: &str, channel: &str) {
        self.push(json!({
            "type": "slash_commands",
            "envelope_id": envelope_id,
            "accepts_response_payload": true,
            "payload": {
                "token": "legacy",
                "team_id": "T0TEAM",
                "team_domain": "example",
                "channel_id": channel,
                "channel_name": "ops",
                "user_id": user,
                "user_name": "display names are never used",
                "command": command,
                "text": text,
                "api_app_id": "A0APP",
                "is_enterprise_install": "false",
                "response_url": self.hook_url(envelope_id),
                "trigger_id": format!("trigger.{envelope_id}"),
            },
        }));
    }

    /// An `events_api` envelope carrying one event.
    pub fn event(&self, envelope_id: &str, event_id: &str, event: Value) {
        self.push(json!({
            "type": "events_api",
            "envelope_id": envelope_id,
            "accepts_response_payload": false,
            "retry_attempt": 0,
            "retry_reason": "",
            "payload": {
                "token": "legacy",
                "team_id": "T0TEAM",
                "api_app_id": "A0APP",
                "type": "event_callback",
                "event_id": event_id,
                "event_time": 1_700_000_000,
                "event": event,
            },
        }));
    }

    /// Slack's `disconnect` envelope, then the socket closes.
    pub fn disconnect(&self) {
        self.push(json!({
            "type": "disconnect",
            "reason": "refresh_requested",
            "debug_info": { "host": "fake-slack" },
        }));
        let current = self.shared.current.lock().expect("lock").take();
        if let Some(sender) = current {
            let _ = sender.send(Message::Close(None));
        }
    }
}

async fn serve_ws(listener: tokio::net::TcpListener, shared: Arc<Shared>, stop: CancellationToken) {
    loop {
        let stream = tokio::select! {
            _ = stop.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => return,
            },
        };
        let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
            continue;
        };
        let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
        let hello = json!({
            "type": "hello",
            "num_connections": 1,
            "debug_info": { "host": "fake-slack", "approximate_connection_time": 3600 },
            "connection_info": { "app_id": "A0APP" },
        });
        tx.send(Message::Text(hello.to_string().into()))
            .expect("receiver alive");
        *shared.current.lock().expect("lock") = Some(tx);
        shared.connections.fetch_add(1, Ordering::SeqCst);
        let shared = shared.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let (mut write, mut read) = ws.split();
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    out = rx.recv() => match out {
                        Some(Message::Close(frame)) => {
                            let _ = write.send(Message::Close(frame)).await;
                            return;
                        }
                        Some(message) => {
                            if write.send(message).await.is_err() {
                                return;
                            }
                        }
                        None => return,
                    },
                    incoming = read.next() => match incoming {
                        Some(Ok(Message::Text(text))) => {
                            let ack: Value = serde_json::from_str(text.as_str()).expect("acks are JSON");
                            let id = ack["envelope_id"].as_str().expect("ack names its envelope");
                            shared.acks.lock().expect("lock").push(id.to_string());
                        }
                        Some(Ok(_)) => {}
                        _ => return,
                    },
                }
            }
        });
    }
}

/// A Web API method called with GET: its query parameters become the
/// (string-valued) arguments, as Slack reads them.
async fn web_api_get(
    State(shared): State<Arc<Shared>>,
    Path(method): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let args: Vec<(String, String)> =
        serde_urlencoded::from_str(query.as_deref().unwrap_or("")).unwrap_or_default();
    let body: serde_json::Map<String, Value> = args
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    call(shared, method, &headers, Value::Object(body))
}

async fn web_api(
    State(shared): State<Arc<Shared>>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let delay = if method == "chat.postMessage" {
        *shared.post_delay.lock().expect("lock")
    } else {
        std::time::Duration::ZERO
    };
    let answer = call(shared, method, &headers, body);
    tokio::time::sleep(delay).await;
    answer
}

fn call(shared: Arc<Shared>, method: String, headers: &HeaderMap, body: Value) -> Response {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim_start_matches("Bearer ")
        .to_string();
    let limited = method == "chat.postMessage"
        && shared
            .rate_limited
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
    let (status, answer) = if limited {
        (429, json!({ "ok": false, "error": "ratelimited" }))
    } else {
        (200, answer(&shared, &method, &token, &body))
    };
    shared.calls.lock().expect("lock").push(Call {
        method,
        token,
        body,
        at: Instant::now(),
        status,
    });
    if limited {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "1")],
            Json(answer),
        )
            .into_response();
    }
    Json(answer).into_response()
}

/// A channel id the fake answers `channel_not_found` for, as Slack does for a
/// deleted channel.
pub const GONE: &str = "C0GONE";
/// A user Slack does not know (deactivated, or never there).
pub const GONE_USER: &str = "U0GONE";

fn answer(shared: &Shared, method: &str, token: &str, body: &Value) -> Value {
    let ts = "1700000000.000100";
    let flag = |v: &Value| v == &json!(true) || v == "true" || v == "1";
    match method {
        "apps.connections.open" if token.starts_with("xapp-") => {
            let ws = shared.ws.lock().expect("lock").expect("ws listening");
            json!({ "ok": true, "url": format!("ws://{ws}/link/?ticket=fake") })
        }
        "apps.connections.open" => json!({ "ok": false, "error": "not_allowed_token_type" }),
        _ if !token.starts_with("xoxb-") => json!({ "ok": false, "error": "invalid_auth" }),
        "chat.postMessage" if body["channel"] == GONE => {
            json!({ "ok": false, "error": "channel_not_found" })
        }
        "chat.postMessage" => {
            let mut messages = shared.messages.lock().expect("lock");
            let ts = format!("1700001000.{:06}", messages.len() + 1);
            let mut message = json!({
                "type": "message", "ts": ts, "text": body["text"],
                "user": "U0BOT", "bot_id": "B0BOT",
            });
            if body["metadata"].is_object() {
                message["metadata"] = body["metadata"].clone();
            }
            let channel = body["channel"].as_str().unwrap_or_default().to_string();
            messages.push((channel, message.clone()));
            message.as_object_mut().expect("object").remove("metadata");
            json!({ "ok": true, "channel": body["channel"], "ts": ts, "message": message })
        }
        "conversations.history" if body["channel"] == GONE => {
            json!({ "ok": false, "error": "channel_not_found" })
        }
        "conversations.history" => {
            let limit = body["limit"]
                .as_str()
                .and_then(|l| l.parse::<usize>().ok())
                .unwrap_or(100)
                .min(999);
            let after = |bound: &Value, ts: &str| bound.as_str().is_none_or(|b| ts > b);
            let before = |bound: &Value, ts: &str| bound.as_str().is_none_or(|b| ts < b);
            let metadata = flag(&body["include_all_metadata"]);
            let messages: Vec<Value> = shared
                .messages
                .lock()
                .expect("lock")
                .iter()
                .rev()
                .filter(|(c, _)| body["channel"] == c.as_str())
                .map(|(_, m)| m.clone())
                .filter(|m| {
                    let ts = m["ts"].as_str().unwrap_or_default();
                    after(&body["oldest"], ts) && before(&body["latest"], ts)
                })
                .take(limit)
                .map(|mut m| {
                    if !metadata {
                        m.as_object_mut().expect("object").remove("metadata");
                    }
                    m
                })
                .collect();
            json!({ "ok": true, "messages": messages, "has_more": false, "pin_count": 0 })
        }
        "auth.test" => json!({
            "ok": true, "url": "https://example.slack.com/", "team": "Example",
            "user": "signalbox", "team_id": "T0TEAM", "user_id": "U0BOT", "bot_id": "B0BOT",
        }),
        "chat.postEphemeral" => json!({ "ok": true, "message_ts": ts }),
        "conversations.open" => {
            let user = body["users"]
                .as_array()
                .and_then(|u| u.first())
                .and_then(Value::as_str)
                .or_else(|| body["users"].as_str())
                .unwrap_or("nobody");
            if user == GONE_USER {
                json!({ "ok": false, "error": "user_not_found" })
            } else {
                json!({ "ok": true, "channel": { "id": format!("D{user}") } })
            }
        }
        "conversations.setTopic" if body["channel"] == GONE => {
            json!({ "ok": false, "error": "channel_not_found" })
        }
        "conversations.setTopic" => json!({ "ok": true, "topic": body["topic"] }),
        _ => json!({ "ok": false, "error": "unknown_method" }),
    }
}

async fn hook(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> &'static str {
    shared.hooks.lock().expect("lock").push((id, body));
    "ok"
}
