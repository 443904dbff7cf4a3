//! Treestatus writes over real HTTP: bearer tokens mapped to people, the
//! same ledger and announcements as chat, and a push hook written the way
//! Mozilla's tree-closure hook reads `result.status`.

use std::net::SocketAddr;
use std::sync::Arc;

use signalbox::Bot;
use signalbox::clock::{Clock, ManualClock};
use tokio_util::sync::CancellationToken;

use crate::common::{at, config_env, event_count, say, serve};

const TOKENS: &[(&str, &str)] = &[
    ("SIGNALBOX__PEOPLE__ALICE__API_TOKEN", "alice-token"),
    ("SIGNALBOX__PEOPLE__BOB__API_TOKEN", "bob-token"),
];

struct Server {
    bot: Bot,
    addr: SocketAddr,
    shutdown: CancellationToken,
}

async fn server(dir: &std::path::Path) -> Server {
    let clock = Arc::new(ManualClock::new(at("2026-11-22T10:00:00Z")));
    let bot = Bot::open(config_env(dir, "", TOKENS), clock as Arc<dyn Clock>)
        .await
        .expect("bot");
    let (addr, shutdown) = serve(&bot).await;
    Server {
        bot,
        addr,
        shutdown,
    }
}

/// One request with an optional token and body; status and JSON body.
async fn request(
    addr: SocketAddr,
    method: &'static str,
    path: String,
    token: Option<&'static str>,
    body: Option<&'static str>,
) -> (u16, serde_json::Value) {
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(std::time::Duration::from_secs(10))).expect("timeout");
        let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
        let body = body.unwrap_or("");
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .expect("write");
        let mut raw = String::new();
        stream.read_to_string(&mut raw).expect("read");
        let code = raw.split(' ').nth(1).and_then(|c| c.parse().ok()).expect("status");
        let json = raw.split_once("\r\n\r\n").and_then(|(_, b)| serde_json::from_str(b).ok()).unwrap_or_default();
        (code, json)
    })
    .await
    .expect("join")
}

fn hook(addr: SocketAddr, tree: &str, message: &str) -> bool {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/hooks/treeclosure.py");
    let status = std::process::Command::new("python3")
        .arg("-I") // isolated: stdlib only, and no slow site-packages start-up
        .arg(script)
        .arg(format!("http://{addr}"))
        .arg(tree)
        .arg(message)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("python3 runs the hook");
    status.success()
}

#[tokio::test]
async fn a_push_hook_obeys_closures_made_through_the_api() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = server(dir.path()).await;
    let addr = s.addr;
    let push = |message: &'static str| {
        tokio::task::spawn_blocking(move || hook(addr, "autoland", message))
    };
    assert!(
        push("Bug 1 - fix r=me").await.expect("join"),
        "open tree takes pushes"
    );

    let close = r#"{"trees": ["autoland"], "status": "closed", "reason": "bustage", "tags": ["checkin-test"]}"#;
    let (code, body) = request(
        addr,
        "PATCH",
        "/trees".into(),
        Some("alice-token"),
        Some(close),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    assert!(
        !push("Bug 2 - more r=me").await.expect("join"),
        "closed tree refuses pushes"
    );
    assert!(push("Bug 3 - backout CLOSED TREE").await.expect("join"));

    let open = r#"{"trees": ["autoland"], "status": "open", "reason": "fixed", "tags": []}"#;
    let (code, _) = request(
        addr,
        "PATCH",
        "/trees".into(),
        Some("alice-token"),
        Some(open),
    )
    .await;
    assert_eq!(code, 200);
    assert!(
        push("Bug 4 - again r=me").await.expect("join"),
        "reopened tree takes pushes"
    );

    let approval =
        r#"{"trees": ["autoland"], "status": "approval required", "reason": "rc", "tags": []}"#;
    request(
        addr,
        "PATCH",
        "/trees".into(),
        Some("alice-token"),
        Some(approval),
    )
    .await;
    assert!(!push("Bug 5 - r=me").await.expect("join"));
    assert!(push("Bug 6 - r=me a=release").await.expect("join"));

    // Recorded like chat: in the log, announced to the trees channels.
    let log = say(&s.bot, "bob", "!tree log autoland").await;
    assert!(
        log.contains("alice closed: bustage [checkin-test]"),
        "{log}"
    );
    let outbox = s.bot.ledger.export().expect("export").outbox;
    assert!(
        outbox
            .iter()
            .any(|e| e.text == "alice closed autoland: bustage [checkin-test]"),
        "{outbox:#?}"
    );
    s.shutdown.cancel();
}

/// method, path, token, body, expected status
type Case = (
    &'static str,
    String,
    Option<&'static str>,
    Option<&'static str>,
    u16,
);

#[tokio::test]
async fn unauthorised_and_malformed_writes_change_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = server(dir.path()).await;
    let close = r#"{"trees": ["autoland"], "status": "closed", "reason": "x", "tags": ["infra"]}"#;
    let cases: Vec<Case> = vec![
        ("PATCH", "/trees".into(), None, Some(close), 401),
        (
            "PATCH",
            "/trees".into(),
            Some("nobody-token"),
            Some(close),
            401,
        ),
        (
            "PATCH",
            "/trees".into(),
            Some("bob-token"),
            Some(close),
            403,
        ),
        (
            "PATCH",
            "/trees".into(),
            Some("alice-token"),
            Some("{not json"),
            400,
        ),
        (
            "PATCH",
            "/trees".into(),
            Some("alice-token"),
            Some(r#"{"trees": ["autoland"], "status": "shut"}"#),
            400,
        ),
        (
            "PATCH",
            "/trees".into(),
            Some("alice-token"),
            Some(r#"{"trees": ["autoland"], "status": "closed", "reason": "x"}"#),
            400,
        ),
        (
            "PATCH",
            "/trees".into(),
            Some("alice-token"),
            Some(r#"{"trees": ["nope"], "status": "open"}"#),
            404,
        ),
        (
            "PATCH",
            "/trees".into(),
            Some("alice-token"),
            Some(r#"{"trees": [], "status": "open"}"#),
            400,
        ),
        (
            "PATCH",
            "/trees".into(),
            Some("alice-token"),
            Some(r#"{"trees": ["try"], "colour": "red"}"#),
            400,
        ),
        (
            "PATCH",
            "/log/999".into(),
            Some("alice-token"),
            Some(r#"{"reason": "x"}"#),
            404,
        ),
        (
            "DELETE",
            "/stack/999?revert=1".into(),
            Some("alice-token"),
            None,
            404,
        ),
        ("DELETE", "/trees/try".into(), Some("bob-token"), None, 403),
        ("PUT", "/trees/new".into(), None, None, 401),
        ("PUT", "/trees/all".into(), Some("alice-token"), None, 400),
        ("PUT", "/trees/try".into(), Some("alice-token"), None, 409),
    ];
    for (method, path, token, body, want) in cases {
        let state = s.bot.ledger.state();
        let events = event_count(&s.bot);
        let (code, json) = request(s.addr, method, path.clone(), token, body).await;
        assert_eq!(code, want, "{method} {path} {body:?}: {json}");
        let detail = json["detail"].as_str().unwrap_or_default();
        assert!(
            !detail.is_empty() && !detail.starts_with(char::is_uppercase),
            "{method} {path}: {json}"
        );
        assert_eq!(
            *s.bot.ledger.state(),
            *state,
            "{method} {path} changed state"
        );
        assert_eq!(event_count(&s.bot), events);
    }
    s.shutdown.cancel();
}

#[tokio::test]
async fn stack_log_and_tree_lifecycle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = server(dir.path()).await;
    let a = s.addr;
    let close = r#"{"trees": ["autoland", "try"], "status": "closed", "reason": "bustage", "tags": ["infra"]}"#;
    request(
        a,
        "PATCH",
        "/trees".into(),
        Some("alice-token"),
        Some(close),
    )
    .await;
    let (_, stack) = request(a, "GET", "/stack".into(), None, None).await;
    let id = stack["result"][0]["id"].as_u64().expect("stack entry id");

    let amend = r#"{"reason": "infra outage", "tags": ["infra", "backlog"]}"#;
    let (code, _) = request(
        a,
        "PATCH",
        format!("/log/{id}"),
        Some("alice-token"),
        Some(amend),
    )
    .await;
    assert_eq!(code, 200);
    let (_, logs) = request(a, "GET", "/trees/try/logs".into(), None, None).await;
    assert_eq!(logs["result"][0]["reason"], "infra outage");
    assert_eq!(
        logs["result"][0]["tags"],
        serde_json::json!(["infra", "backlog"])
    );

    let (code, _) = request(
        a,
        "DELETE",
        format!("/stack/{id}?revert=1"),
        Some("alice-token"),
        None,
    )
    .await;
    assert_eq!(code, 200);
    let (_, trees) = request(a, "GET", "/v0/trees".into(), None, None).await;
    assert_eq!(
        trees["autoland"]["status"], "open",
        "legacy shape has no result wrapper: {trees}"
    );
    assert_eq!(trees["try"]["status"], "open");

    let motd = r#"{"trees": ["try"], "message_of_the_day": "be nice", "remember": false}"#;
    request(a, "PATCH", "/trees".into(), Some("alice-token"), Some(motd)).await;
    let close = r#"{"trees": ["try"], "status": "closed", "reason": "x", "tags": ["other"]}"#;
    request(
        a,
        "PATCH",
        "/trees".into(),
        Some("alice-token"),
        Some(close),
    )
    .await;
    let (_, stack) = request(a, "GET", "/stack".into(), None, None).await;
    let id = stack["result"][0]["id"].as_u64().expect("id");
    let (code, _) = request(
        a,
        "DELETE",
        format!("/stack/{id}?revert=0"),
        Some("alice-token"),
        None,
    )
    .await;
    assert_eq!(code, 200);
    let (_, one) = request(a, "GET", "/v0/trees/try".into(), None, None).await;
    assert_eq!(
        (one["status"].as_str(), one["message_of_the_day"].as_str()),
        (Some("closed"), Some("be nice"))
    );
    let (_, stack) = request(a, "GET", "/stack".into(), None, None).await;
    assert_eq!(
        stack["result"].as_array().map(Vec::len),
        Some(0),
        "revert=0 drops without reverting"
    );

    let (code, _) = request(
        a,
        "PUT",
        "/trees/comm-central".into(),
        Some("alice-token"),
        Some(r#"{"message_of_the_day": "hi"}"#),
    )
    .await;
    assert_eq!(code, 200);
    let (code, tree) = request(a, "GET", "/trees/comm-central".into(), None, None).await;
    assert_eq!(
        (code, tree["result"]["status"].as_str()),
        (200, Some("open"))
    );
    let (code, _) = request(
        a,
        "DELETE",
        "/trees/comm-central".into(),
        Some("alice-token"),
        None,
    )
    .await;
    assert_eq!(code, 200);
    let (code, _) = request(a, "GET", "/trees/comm-central".into(), None, None).await;
    assert_eq!(code, 404);

    let (code, audit) = request(
        a,
        "GET",
        "/api/v1/audit?who=alice&limit=3".into(),
        None,
        None,
    )
    .await;
    assert_eq!(code, 200);
    let events = audit["result"].as_array().expect("events");
    assert_eq!(events.len(), 3);
    assert!(
        events
            .iter()
            .all(|e| e["actor"]["person"] == "alice" && e["actor"]["network"] == "http")
    );
    assert!(
        events[0]["id"].as_u64() > events[1]["id"].as_u64(),
        "newest first"
    );
    let (code, _) = request(a, "GET", "/api/v1/audit?limit=many".into(), None, None).await;
    assert_eq!(code, 400);
    s.shutdown.cancel();
}
