//! Slack's HTTP mode: `POST /slack/commands` (slash commands, form-encoded),
//! `/slack/events` (Events API, JSON) and `/slack/interactions` (the
//! `payload` form field). Slack signs each request: HMAC-SHA256 with the
//! app's signing secret over `v0:TIMESTAMP:BODY`, sent as
//! `X-Slack-Signature: v0=HEX` with `X-Slack-Request-Timestamp`. A request
//! is refused with 401, before anything runs, when the signature does not
//! match (compared in constant time), when its timestamp is more than five
//! minutes away from now, or when the same signed request was already seen
//! within those five minutes (a replay).
//!
//! An accepted command is acknowledged (an empty 200) once its change is
//! durable, within Slack's 3 seconds, and answered through its
//! `response_url`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router as Routes;
use axum::body::Bytes;
use axum::extract::State as Extract;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::post;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::json;
use sha2::Sha256;

use super::AppState;
use crate::adapter::slack::{EventCallback, Inbox, Mode, SlashCommand, ack_when_done};

/// How far a request's timestamp may be from now, in seconds.
pub const WINDOW_SECS: i64 = 5 * 60;

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("header {0} is missing")]
    MissingHeader(&'static str),
    #[error("timestamp \"{0}\" is not a unix time")]
    BadTimestamp(String),
    #[error("timestamp {ts} is more than 5 minutes from now ({now})")]
    Stale { ts: i64, now: i64 },
    #[error("signature does not match")]
    BadSignature,
    #[error("this request was already received")]
    Replayed,
}

/// Checks Slack's request signatures and remembers the recent ones.
pub struct Verifier {
    secret: Vec<u8>,
    /// Signatures seen within the window, with their timestamps.
    seen: Mutex<HashMap<String, i64>>,
}

impl Verifier {
    pub fn new(signing_secret: &str) -> Self {
        Self {
            secret: signing_secret.as_bytes().to_vec(),
            seen: Mutex::new(HashMap::new()),
        }
    }

    fn mac(&self, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.secret)
            .expect("HMAC takes keys of any length");
        mac.update(b"v0:");
        mac.update(timestamp.as_bytes());
        mac.update(b":");
        mac.update(body);
        mac
    }

    /// The signature Slack sends with `body` at `timestamp` (`v0=HEX`).
    pub fn sign(&self, timestamp: &str, body: &[u8]) -> String {
        let digest = self.mac(timestamp, body).finalize().into_bytes();
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        format!("v0={hex}")
    }

    /// Checks one signature at `now` (unix seconds), without remembering it.
    pub fn check(
        &self,
        timestamp: &str,
        body: &[u8],
        signature: &str,
        now: i64,
    ) -> Result<i64, Refused> {
        let ts: i64 = timestamp
            .trim()
            .parse()
            .map_err(|_| Refused::BadTimestamp(timestamp.chars().take(20).collect()))?;
        if (now - ts).abs() > WINDOW_SECS {
            return Err(Refused::Stale { ts, now });
        }
        let digest = signature
            .strip_prefix("v0=")
            .and_then(decode_hex)
            .ok_or(Refused::BadSignature)?;
        // `verify_slice` compares in constant time.
        self.mac(timestamp, body)
            .verify_slice(&digest)
            .map_err(|_| Refused::BadSignature)?;
        Ok(ts)
    }

    /// Checks a request's headers and body at `now`, and refuses a request
    /// seen before.
    pub fn verify(&self, headers: &HeaderMap, body: &[u8], now: i64) -> Result<(), Refused> {
        let header = |name: &'static str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .ok_or(Refused::MissingHeader(name))
        };
        let timestamp = header("x-slack-request-timestamp")?;
        let signature = header("x-slack-signature")?;
        let ts = self.check(timestamp, body, signature, now)?;
        let mut seen = self
            .seen
            .lock()
            .expect("replay cache lock is never poisoned: no panics while held");
        seen.retain(|_, at| (now - *at).abs() <= WINDOW_SECS);
        if seen.insert(signature.to_string(), ts).is_some() {
            return Err(Refused::Replayed);
        }
        Ok(())
    }
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

/// The HTTP-mode endpoint: the verifier and where verified traffic goes.
pub struct Endpoint {
    verifier: Verifier,
    inbox: Arc<dyn Inbox>,
}

impl Endpoint {
    pub fn new(signing_secret: &str, inbox: Arc<dyn Inbox>) -> Self {
        Self {
            verifier: Verifier::new(signing_secret),
            inbox,
        }
    }

    /// The endpoint for a config in HTTP mode; `None` otherwise (or when
    /// the Web API cannot be set up, which is logged).
    pub fn from_config(
        config: &crate::config::Config,
        router: &Arc<crate::router::Router>,
        health: &crate::adapter::HealthBoard,
    ) -> Option<Arc<Endpoint>> {
        let slack = config.adapters.slack.as_ref()?;
        if slack.mode != Mode::Http {
            return None;
        }
        let secret = slack.signing_secret.as_ref()?;
        match crate::adapter::slack::from_config(slack, router.clone(), health.clone()) {
            Ok((_, inbox)) => Some(Arc::new(Endpoint::new(secret.expose(), inbox))),
            Err(e) => {
                tracing::error!("slack http mode is off: {e}");
                None
            }
        }
    }
}

pub fn routes() -> Routes<Arc<AppState>> {
    Routes::new()
        .route("/slack/commands", post(commands))
        .route("/slack/events", post(events))
        .route("/slack/interactions", post(interactions))
}

/// The endpoint, once the request is verified; the refusal otherwise.
fn verified<'a>(
    app: &'a AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<&'a Endpoint, (StatusCode, String)> {
    let Some(endpoint) = app.slack.as_deref() else {
        return Err((
            StatusCode::NOT_FOUND,
            "slack http mode is not configured (adapters.slack.mode = \"http\")".to_string(),
        ));
    };
    let now = chrono::Utc::now().timestamp();
    match endpoint.verifier.verify(headers, body, now) {
        Ok(()) => Ok(endpoint),
        Err(refused) => {
            tracing::warn!("slack request refused: {refused}");
            Err((StatusCode::UNAUTHORIZED, format!("refused: {refused}")))
        }
    }
}

async fn commands(
    Extract(app): Extract<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let endpoint = match verified(&app, &headers, &body) {
        Ok(e) => e,
        Err(refusal) => return refusal.into_response(),
    };
    let command: SlashCommand = match serde_urlencoded::from_bytes(&body) {
        Ok(c) => c,
        Err(e) => {
            return (StatusCode::BAD_REQUEST, format!("not a slash command: {e}")).into_response();
        }
    };
    // The trigger id is unique per invocation and the same in a resend.
    let id = command.trigger_id.clone();
    ack_when_done(endpoint.inbox.clone().command(command, id)).await;
    StatusCode::OK.into_response()
}

async fn events(Extract(app): Extract<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    let endpoint = match verified(&app, &headers, &body) {
        Ok(e) => e,
        Err(refusal) => return refusal.into_response(),
    };
    let value: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("not JSON: {e}")).into_response(),
    };
    match value["type"].as_str() {
        Some("url_verification") => {
            Json(json!({ "challenge": value["challenge"] })).into_response()
        }
        Some("event_callback") => match serde_json::from_value::<EventCallback>(value) {
            Ok(callback) => {
                ack_when_done(endpoint.inbox.clone().event(callback)).await;
                StatusCode::OK.into_response()
            }
            Err(e) => {
                tracing::debug!("slack event ignored: {e}");
                StatusCode::OK.into_response()
            }
        },
        _ => StatusCode::OK.into_response(),
    }
}

/// No interactive components yet: verified and acknowledged.
async fn interactions(
    Extract(app): Extract<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match verified(&app, &headers, &body) {
        Ok(_) => StatusCode::OK.into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example request from Slack's "Verifying requests from Slack".
    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const TIMESTAMP: &str = "1531420618";
    const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
    const THEN: i64 = 1_531_420_618;

    #[test]
    fn slacks_published_example_verifies() {
        let verifier = Verifier::new(SECRET);
        assert_eq!(
            verifier.check(TIMESTAMP, BODY.as_bytes(), SIGNATURE, THEN + 30),
            Ok(THEN)
        );
        assert_eq!(verifier.sign(TIMESTAMP, BODY.as_bytes()), SIGNATURE);
        let command: SlashCommand =
            serde_urlencoded::from_bytes(BODY.as_bytes()).expect("example body parses");
        assert_eq!(command.command, "/webhook-collect");
        assert_eq!(command.user_id, "U2CERLKJA");
        assert!(command.response_url.starts_with("https://hooks.slack.com/"));
    }

    #[test]
    fn tampering_staleness_and_replays_are_refused() {
        let verifier = Verifier::new(SECRET);
        let tampered = BODY.replace("roadrunner", "coyote");
        assert_eq!(
            verifier.check(TIMESTAMP, tampered.as_bytes(), SIGNATURE, THEN),
            Err(Refused::BadSignature)
        );
        assert_eq!(
            Verifier::new("another-secret").check(TIMESTAMP, BODY.as_bytes(), SIGNATURE, THEN),
            Err(Refused::BadSignature)
        );
        for bad in [
            "a2114d57",
            "v0=zz",
            "v1=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
            "",
        ] {
            assert_eq!(
                verifier.check(TIMESTAMP, BODY.as_bytes(), bad, THEN),
                Err(Refused::BadSignature),
                "{bad}"
            );
        }
        assert_eq!(
            verifier.check(
                TIMESTAMP,
                BODY.as_bytes(),
                SIGNATURE,
                THEN + WINDOW_SECS + 1
            ),
            Err(Refused::Stale {
                ts: THEN,
                now: THEN + WINDOW_SECS + 1
            })
        );
        assert!(matches!(
            verifier.check("yesterday", BODY.as_bytes(), SIGNATURE, THEN),
            Err(Refused::BadTimestamp(_))
        ));

        let mut headers = HeaderMap::new();
        headers.insert(
            "x-slack-request-timestamp",
            TIMESTAMP.parse().expect("header"),
        );
        headers.insert("x-slack-signature", SIGNATURE.parse().expect("header"));
        assert_eq!(verifier.verify(&headers, BODY.as_bytes(), THEN + 1), Ok(()));
        assert_eq!(
            verifier.verify(&headers, BODY.as_bytes(), THEN + 2),
            Err(Refused::Replayed)
        );
        headers.remove("x-slack-signature");
        assert_eq!(
            verifier.verify(&headers, BODY.as_bytes(), THEN + 2),
            Err(Refused::MissingHeader("x-slack-signature"))
        );
    }
}
