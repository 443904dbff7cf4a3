//! `export` then `import` into an empty directory reproduces the whole state.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::common::{bin, write_config};

fn run(args: &[&str], config: &std::path::Path, input: &[u8]) -> std::process::Output {
    let mut child = Command::new(bin())
        .args(args)
        .arg("--config")
        .arg(config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write");
    child.wait_with_output().expect("wait")
}

/// Imports `document` into a fresh data directory (which must succeed) and
/// returns that directory with its config, for exporting again.
fn import_fresh(document: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), "");
    let imported = run(&["import"], &config, document);
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    (dir, config)
}

#[test]
fn export_import_round_trips_and_refuses_a_used_directory() {
    let one = tempfile::tempdir().expect("tempdir");
    let two = tempfile::tempdir().expect("tempdir");
    let config_one = write_config(one.path(), "");
    let config_two = write_config(two.path(), "");
    let script = b"!tree close autoland,try bustage #infra for 3h\n!tree motd try hello\n!tree approval mozilla-central rc #planned\n!tree open try\n";
    assert!(run(&["console"], &config_one, script).status.success());

    let exported = run(&["export"], &config_one, b"");
    assert!(exported.status.success());
    let imported = run(&["import"], &config_two, &exported.stdout);
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    let again = run(&["export"], &config_two, b"");
    let a: serde_json::Value = serde_json::from_slice(&exported.stdout).expect("json");
    let b: serde_json::Value = serde_json::from_slice(&again.stdout).expect("json");
    assert_eq!(a, b);
    assert_eq!(
        a["state"]["trees"]["trees"]["mozilla-central"]["status"],
        "approval required"
    );
    assert!(a["events"].as_array().expect("events").len() >= 4);

    let twice = run(&["import"], &config_two, &exported.stdout);
    assert!(!twice.status.success());
    assert!(String::from_utf8_lossy(&twice.stderr).contains("already holds events"));

    let garbage = run(&["import"], &config_two, b"{\"not\": \"an export\"}");
    assert!(!garbage.status.success());
    assert!(String::from_utf8_lossy(&garbage.stderr).contains("not a signalbox export"));
}

#[test]
fn export_into_a_reader_that_stops_early_is_not_a_crash() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), "");
    let script = b"!tree close autoland,try bustage #infra\n!tree open try\n".repeat(300);
    assert!(run(&["console"], &config, &script).status.success());
    // Like `signalbox export | head -c 10`: the pipe's reader goes away
    // after a few bytes, so later writes meet a closed pipe.
    let mut child = Command::new(bin())
        .arg("export")
        .arg("--config")
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut head = [0u8; 10];
    std::io::Read::read_exact(&mut child.stdout.take().expect("stdout"), &mut head)
        .expect("the export starts");
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.status.success(), "{stderr}");
}

const TOKENS: &[(&str, &str)] = &[
    ("SIGNALBOX__PEOPLE__ALICE__API_TOKEN", "alice-token"),
    ("SIGNALBOX__PEOPLE__BOB__API_TOKEN", "bob-token"),
];

/// The state the first `last` events of `events` produce.
fn replay(events: &[signalbox_commands::Event], last: u64) -> signalbox_commands::State {
    let mut state = signalbox_commands::State::default();
    for event in events.iter().filter(|e| e.id.0 <= last) {
        state.apply(event);
    }
    state
}

/// `signalbox export --url` from a bot that keeps taking changes, then
/// `import` of that document into an empty directory: the import holds
/// exactly the state and events up to the export's last event, which is a
/// moment between two of the streaming changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_export_while_changes_stream_imports_to_the_same_state() {
    use std::sync::Arc;

    use signalbox::Bot;
    use signalbox::clock::{Clock, ManualClock};

    use crate::common::{at, config_env, say, serve};

    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(at("2026-11-22T10:00:00Z")));
    let bot = Bot::open(config_env(dir.path(), "", TOKENS), clock as Arc<dyn Clock>)
        .await
        .expect("bot");
    let (addr, shutdown) = serve(&bot).await;
    let token = dir.path().join("token");
    std::fs::write(&token, "alice-token\n").expect("token file");

    // Changes stream in from another task for as long as the exports run.
    let streaming = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let router = bot.router.clone();
    let writer = {
        let streaming = streaming.clone();
        tokio::spawn(async move {
            let mut n = 0u32;
            while streaming.load(std::sync::atomic::Ordering::SeqCst) && n < 5_000 {
                let line = if n.is_multiple_of(2) {
                    format!("!tree close autoland stream {n} #infra")
                } else {
                    "!tree open autoland".to_string()
                };
                let msg = signalbox::router::Inbound {
                    network: signalbox_commands::Network::Console,
                    channel: Some(signalbox_commands::ChannelAddr::new(
                        signalbox_commands::Network::Console,
                        "#ops",
                    )),
                    user: signalbox_commands::PlatformUserId::new("alice"),
                    text: line,
                    id: None,
                    aliases: Vec::new(),
                };
                let _ = router.dispatch(&msg).await;
                n += 1;
            }
            n
        })
    };
    // Let some changes land first, so the export has a log to stream.
    for _ in 0..200 {
        if crate::common::event_count(&bot) > 50 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let url = format!("http://{addr}");
    let exported = {
        let (url, token) = (url.clone(), token.clone());
        tokio::task::spawn_blocking(move || {
            Command::new(bin())
                .args(["export", "--url", &url, "--token-file"])
                .arg(&token)
                .output()
                .expect("export runs")
        })
        .await
        .expect("join")
    };
    streaming.store(false, std::sync::atomic::Ordering::SeqCst);
    let streamed = writer.await.expect("writer");
    assert!(
        exported.status.success(),
        "{}",
        String::from_utf8_lossy(&exported.stderr)
    );
    let export: signalbox::ledger::Export =
        serde_json::from_slice(&exported.stdout).expect("the export parses");
    let last = export.events.last().expect("events").id.0;
    assert_eq!(
        export.events.len() as u64,
        last,
        "events 1..=last, none missing"
    );
    let all = bot.ledger.events().expect("events");
    assert!(
        (all.len() as u64) > last,
        "changes kept coming after the snapshot ({} events, export at {last}, {streamed} commands)",
        all.len()
    );
    assert_eq!(
        export.state,
        replay(&all, last),
        "the state at the export's last event"
    );
    assert_eq!(export.events[..], all[..last as usize]);

    // The file imports into an empty directory and exports back identically.
    let (_two, config_two) = import_fresh(&exported.stdout);
    let again = run(&["export"], &config_two, b"");
    let back: signalbox::ledger::Export = serde_json::from_slice(&again.stdout).expect("json");
    assert_eq!(back, export);

    // Only an admin's token exports; bob is no admin.
    std::fs::write(&token, "bob-token").expect("token file");
    let refused = Command::new(bin())
        .args(["export", "--url", &url, "--token-file"])
        .arg(&token)
        .output()
        .expect("export runs");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("403") && stderr.contains("admin role"),
        "{stderr}"
    );
    let (status, _) = crate::common::http(addr, "GET", "/api/v1/export");
    assert_eq!(status, 401);
    assert!(say(&bot, "alice", "!tree").await.contains("autoland"));
    shutdown.cancel();
}

/// `[backup]` on a schedule: each firing writes a whole export into `dir`,
/// the oldest beyond `keep` go, and each file imports.
#[tokio::test]
async fn scheduled_backups_are_written_pruned_and_importable() {
    use std::sync::Arc;

    use signalbox::Bot;
    use signalbox::clock::{Clock, ManualClock};

    use crate::common::{at, config, say};

    let dir = tempfile::tempdir().expect("tempdir");
    let backups = dir.path().join("backups");
    let extra = format!(
        "[backup]\ndir = {:?}\ncron = \"0 0 * * * *\"\nkeep = 2\n",
        backups.display().to_string()
    );
    let config = config(dir.path(), &extra);
    let backup = config.backup.clone().expect("[backup] is read");
    assert_eq!(backup.keep, 2);
    let clock = Arc::new(ManualClock::new(at("2026-11-22T10:30:00Z")));
    let bot = Bot::open(config, clock.clone() as Arc<dyn Clock>)
        .await
        .expect("bot");
    let shutdown = tokio_util::sync::CancellationToken::new();
    tokio::spawn(signalbox::backup::schedule(
        bot.ledger.clone(),
        backup,
        chrono_tz::Tz::UTC,
        clock.clone() as Arc<dyn Clock>,
        shutdown.clone(),
    ));
    let files = || -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&backups)
            .map(|d| {
                d.filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| !n.starts_with('.'))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    };
    for hour in 11..=13 {
        say(
            &bot,
            "alice",
            &format!("!tree close try hour {hour} #infra"),
        )
        .await;
        clock.set(at(&format!("2026-11-22T{hour}:00:00Z")));
        let want = format!("signalbox-20261122T{hour}0000Z.json");
        for _ in 0..500 {
            if files().contains(&want) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(files().contains(&want), "{want} in {:?}", files());
    }
    assert_eq!(
        files(),
        [
            "signalbox-20261122T120000Z.json",
            "signalbox-20261122T130000Z.json"
        ]
    );
    let newest = std::fs::read(backups.join("signalbox-20261122T130000Z.json")).expect("read");
    let export: signalbox::ledger::Export = serde_json::from_slice(&newest).expect("json");
    assert_eq!(export.state, *bot.ledger.state());
    import_fresh(&newest);
    shutdown.cancel();
}
