//! The OpenAPI description matches what the server does: Schemathesis (from
//! PyPI, installed by `scripts/schemathesis`) generates requests for every
//! operation, authorised as an admin so writes really run, and checks that no
//! answer is a server error and every status code is documented.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::common::{bin, write_config};

#[test]
fn schemathesis_finds_no_server_error_or_undocumented_status() {
    let installer = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/schemathesis");
    let out = Command::new(installer)
        .output()
        .expect("scripts/schemathesis runs");
    assert!(
        out.status.success(),
        "installing schemathesis failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let schemathesis = String::from_utf8(out.stdout)
        .expect("path")
        .trim()
        .to_string();

    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), "");
    let mut bot = Command::new(bin())
        .args(["run", "--config"])
        .arg(&config)
        .env("SIGNALBOX__PEOPLE__ALICE__API_TOKEN", "schemathesis-token")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn bot");
    let stderr = BufReader::new(bot.stderr.take().expect("stderr"));
    let addr = stderr
        .lines()
        .map_while(Result::ok)
        .find_map(|l| {
            l.strip_prefix("signalbox: http listening on ")
                .map(str::to_string)
        })
        .expect("the bot announces its address");
    let run = Command::new(&schemathesis)
        .args(["run", &format!("{addr}/api/openapi.json")])
        .args(["--checks", "not_a_server_error,status_code_conformance"])
        .args([
            "--max-examples",
            "25",
            "--seed",
            "7",
            "--request-timeout",
            "10",
        ])
        .args(["-H", "Authorization: Bearer schemathesis-token"])
        .output()
        .expect("schemathesis runs");
    let _ = bot.kill();
    let _ = bot.wait();
    let report = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "schemathesis found problems:\n{report}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(report.contains("passed"), "{report}");
}
