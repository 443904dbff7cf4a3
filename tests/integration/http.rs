//! The treestatus-compatible reads and the health check, over real HTTP on
//! loopback.

use std::sync::Arc;

use signalbox::clock::ManualClock;

use crate::common::{at, bot, http, say, serve};

#[tokio::test]
async fn treestatus_shapes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(at("2026-11-22T10:00:00Z")));
    let bot = bot(dir.path(), "", clock).await;
    say(
        &bot,
        "alice",
        "!tree close autoland,try bustage #checkin-test",
    )
    .await;
    say(&bot, "alice", "!tree motd try be kind").await;
    say(&bot, "alice", "!tree open try").await;
    let (addr, shutdown) = serve(&bot).await;

    let get = |path: &'static str| tokio::task::spawn_blocking(move || http(addr, "GET", path));
    let (code, body) = get("/trees").await.expect("join");
    assert_eq!(code, 200);
    let trees: serde_json::Value = serde_json::from_str(&body).expect("json");
    let autoland = &trees["result"]["autoland"];
    assert_eq!(autoland["tree"], "autoland");
    assert_eq!(autoland["status"], "closed");
    assert_eq!(autoland["reason"], "bustage");
    assert_eq!(autoland["tags"], serde_json::json!(["checkin-test"]));
    assert_eq!(autoland["message_of_the_day"], "");
    assert!(autoland["log_id"].is_u64());
    assert_eq!(trees["result"]["try"]["message_of_the_day"], "be kind");

    let (_, body) = get("/trees2").await.expect("join");
    let list: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(list["result"].as_array().expect("list").len(), 3);

    let (code, body) = get("/trees/try").await.expect("join");
    assert_eq!(code, 200);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).expect("json")["result"]["status"],
        "open"
    );
    let (code, body) = get("/trees/nosuch").await.expect("join");
    assert_eq!(code, 404);
    assert!(body.contains("nosuch"));
    let (code, _) = get("/trees/nosuch/logs").await.expect("join");
    assert_eq!(code, 404);

    let (_, body) = get("/trees/try/logs").await.expect("join");
    let logs: serde_json::Value = serde_json::from_str(&body).expect("json");
    let logs = logs["result"].as_array().expect("logs");
    assert_eq!(logs.len(), 2);
    assert_eq!(logs[0]["status"], "open");
    assert_eq!(logs[1]["status"], "closed");
    assert_eq!(logs[1]["who"], "alice");
    for key in ["id", "tree", "when", "who", "status", "reason", "tags"] {
        assert!(logs[0].get(key).is_some(), "log entry lacks {key}");
    }
    let (_, body) = get("/trees/try/logs_all").await.expect("join");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).expect("json")["result"]
            .as_array()
            .expect("all")
            .len(),
        2
    );

    let (_, body) = get("/stack").await.expect("join");
    let stack: serde_json::Value = serde_json::from_str(&body).expect("json");
    let stack = stack["result"].as_array().expect("stack");
    assert_eq!(stack.len(), 2);
    assert_eq!(
        stack[1]["trees"],
        serde_json::json!(["autoland", "try"]),
        "oldest last"
    );

    let (code, body) = get("/healthz").await.expect("join");
    assert_eq!(code, 200);
    assert!(body.contains("\"ledger\":\"ok\""), "{body}");
    let (code, body) = get("/").await.expect("join");
    assert_eq!(code, 200);
    assert!(
        body.contains(
            "<tr class=\"closed\" data-tree=\"autoland\"><td><b>autoland</b></td><td>CLOSED</td>"
        ),
        "{body}"
    );

    shutdown.cancel();
}

fn scrape(addr: std::net::SocketAddr) -> prometheus_parse::Scrape {
    let (code, body) = http(addr, "GET", "/metrics");
    assert_eq!(code, 200);
    let lines = body.lines().map(|l| Ok(l.to_string()));
    prometheus_parse::Scrape::parse(lines).expect("/metrics parses as Prometheus exposition text")
}

fn sample(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            prometheus_parse::Value::Histogram(ref buckets) => {
                buckets.last().map_or(0.0, |b| b.count)
            }
            prometheus_parse::Value::Summary(_) => 0.0,
        })
        .sum()
}

#[tokio::test]
async fn metrics_parse_and_move_when_commands_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(at("2026-11-22T10:00:00Z")));
    let bot = bot(dir.path(), "", clock).await;
    let (addr, shutdown) = serve(&bot).await;
    say(&bot, "alice", "!ping").await;
    let ok = [
        ("family", "tree"),
        ("outcome", "ok"),
        ("network", "console"),
    ];
    let refused = [
        ("family", "tree"),
        ("outcome", "permission"),
        ("network", "console"),
    ];
    let before = tokio::task::spawn_blocking(move || scrape(addr))
        .await
        .expect("join");
    say(&bot, "alice", "!tree close try bustage #infra").await;
    say(&bot, "bob", "!tree open try").await;
    let after = tokio::task::spawn_blocking(move || scrape(addr))
        .await
        .expect("join");
    for (labels, name) in [(&ok[..], "ok"), (&refused[..], "refused")] {
        let (b, a) = (
            sample(&before, "signalbox_commands_total", labels),
            sample(&after, "signalbox_commands_total", labels),
        );
        assert!(a >= b + 1.0, "{name}: {b} -> {a}");
    }
    let batches =
        |s: &prometheus_parse::Scrape| sample(s, "signalbox_ledger_flush_seconds_count", &[]);
    assert!(batches(&after) > batches(&before), "flush histogram moves");
    let latency = |s: &prometheus_parse::Scrape| {
        sample(s, "signalbox_command_seconds_count", &[("family", "tree")])
    };
    assert!(
        latency(&after) >= latency(&before) + 2.0,
        "latency histogram counts both commands"
    );
    shutdown.cancel();
}

/// `/api/v1/log` pages by `before`: a full page names the next one, the last
/// page says there is none; a bad query is a 400 problem quoting the input.
#[tokio::test]
async fn the_deploy_log_pages_and_refuses_bad_queries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(at("2026-11-22T10:00:00Z")));
    let bot = bot(dir.path(), "", clock).await;
    for line in ["!log one T1", "!log two T2", "!log three T3"] {
        say(&bot, "alice", line).await;
    }
    let (addr, shutdown) = serve(&bot).await;
    let get = |path: String| tokio::task::spawn_blocking(move || http(addr, "GET", &path));
    let texts = |page: &serde_json::Value| -> Vec<String> {
        page["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .map(|e| e["text"].as_str().expect("text").to_string())
            .collect()
    };

    let (code, body) = get("/api/v1/log?limit=2".into()).await.expect("join");
    assert_eq!(code, 200, "{body}");
    let first: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(texts(&first), ["three T3", "two T2"]);
    let next = first["next_before"]
        .as_u64()
        .expect("a full page names the next");
    let (_, body) = get(format!("/api/v1/log?limit=2&before={next}"))
        .await
        .expect("join");
    let second: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(texts(&second), ["one T1"]);
    assert_eq!(second["next_before"], serde_json::Value::Null);

    for (query, quoted) in [
        ("limit=-1", "-1"),
        ("before=soon", "soon"),
        ("until=whenever", "whenever"),
        ("colour=blue", "colour"),
    ] {
        let (code, body) = get(format!("/api/v1/log?{query}")).await.expect("join");
        assert_eq!(code, 400, "{query}: {body}");
        let problem: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!(problem["status"], 400, "{body}");
        let detail = problem["detail"].as_str().expect("detail");
        assert!(detail.contains(quoted), "{query}: {detail}");
    }
    shutdown.cancel();
}
