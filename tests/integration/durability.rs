//! Acknowledged means durable: the console confirms a change only after the
//! ledger flushed it, so a SIGKILL at any moment loses nothing confirmed.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{bin, write_config};

const ROUNDS: usize = 20;
const LINES_PER_ROUND: usize = 3000;

#[test]
fn sigkill_never_loses_a_confirmed_tree_change() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), "");
    let mut confirmed: BTreeSet<(String, String)> = BTreeSet::new();
    for round in 0..ROUNDS {
        let mut child = Command::new(bin())
            .args(["console", "--config"])
            .arg(&config)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn console");
        let mut stdin = child.stdin.take().expect("stdin");
        let writer = std::thread::spawn(move || {
            for n in 0..LINES_PER_ROUND {
                let line = if n % 2 == 0 {
                    format!("!tree close autoland k{round}x{n} #infra\n")
                } else {
                    format!("!tree open autoland k{round}x{n}\n")
                };
                // The pipe breaks when the child is killed; that ends the round.
                if stdin.write_all(line.as_bytes()).is_err() {
                    return;
                }
            }
        });
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let reader = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for line in stdout.lines().map_while(Result::ok) {
                for (prefix, status) in [
                    ("closed autoland: ", "closed"),
                    ("opened autoland: ", "open"),
                ] {
                    if let Some(rest) = line.strip_prefix(prefix) {
                        let reason = rest.split(' ').next().unwrap_or_default().to_string();
                        seen.push((status.to_string(), reason));
                    }
                }
            }
            seen
        });
        // Kill at a different moment each round: 40 to 400 ms in.
        let delay = Duration::from_millis(40 + (round as u64 * 53) % 360);
        let started = Instant::now();
        while started.elapsed() < delay {
            std::thread::sleep(Duration::from_millis(1));
        }
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        let seen = reader.join().expect("reader");
        writer.join().expect("writer");
        confirmed.extend(seen);
    }
    eprintln!("{} confirmed changes over {ROUNDS} kills", confirmed.len());
    assert!(
        confirmed.len() > ROUNDS,
        "the test must see confirmations to prove anything: {}",
        confirmed.len()
    );

    let out = Command::new(bin())
        .args(["export", "--config"])
        .arg(&config)
        .output()
        .expect("export");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let export: serde_json::Value = serde_json::from_slice(&out.stdout).expect("export json");
    let mut recorded: BTreeSet<(String, String)> = BTreeSet::new();
    for event in export["events"].as_array().expect("events") {
        for change in event["changes"].as_array().expect("changes") {
            for edit in change["edits"].as_array().into_iter().flatten() {
                let status = edit["after"]["status"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let reason = edit["after"]["reason"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                recorded.insert((status, reason));
            }
        }
    }
    let lost: Vec<_> = confirmed.difference(&recorded).collect();
    assert!(
        lost.is_empty(),
        "{} confirmed changes lost, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
}
