//! Backups of a running bot. An export is one consistent moment of the
//! ledger ([`Ledger::snapshot`], taken between two batches of the writer),
//! written as the same JSON `signalbox export` prints and `signalbox import`
//! reads. It streams: the state and outbox are copied at the snapshot, the
//! events (append-only) are read from the log one by one up to the
//! snapshot's last event while the bot keeps writing.
//!
//! `[backup]` writes such an export into `dir` on a cron schedule — to a
//! temporary file, synced, then renamed, so a backup file is either whole or
//! absent — and keeps the newest `keep` of them.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use signalbox_commands::SCHEMA;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::config::Cron;
use crate::ledger::{Ledger, LedgerError, Snapshot};

/// `[backup]` in config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupConfig {
    /// Where backups go (relative to the config file).
    pub dir: PathBuf,
    /// When (6 fields, seconds first, in the team's time zone).
    pub cron: Cron,
    /// How many backups to keep; older ones are deleted.
    #[serde(default = "default_keep")]
    pub keep: usize,
}

fn default_keep() -> usize {
    7
}

/// The prefix and suffix of backup file names; the stamp between them sorts
/// in time order.
const PREFIX: &str = "signalbox-";
const SUFFIX: &str = ".json";

/// Writes `snapshot` as an export document (compact JSON, one line).
pub fn write(snapshot: &Snapshot, out: &mut impl Write) -> io::Result<()> {
    write!(
        out,
        "{{\"format\":\"signalbox-export\",\"schema\":{SCHEMA},\"state\":"
    )?;
    serde_json::to_writer(&mut *out, &*snapshot.state)?;
    out.write_all(b",\"events\":[")?;
    for (i, event) in snapshot.events().enumerate() {
        let event = event.map_err(io::Error::other)?;
        if i > 0 {
            out.write_all(b",")?;
        }
        serde_json::to_writer(&mut *out, &event)?;
    }
    out.write_all(b"],\"outbox\":")?;
    serde_json::to_writer(&mut *out, &snapshot.outbox)?;
    out.write_all(b"}\n")?;
    out.flush()
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("cannot write the backup in {dir}: {source}")]
    Io { dir: PathBuf, source: io::Error },
}

/// Takes a backup into `dir` now, named after `at`, and prunes the oldest
/// beyond `keep`. Returns the new file.
pub async fn take(
    ledger: &Ledger,
    dir: &Path,
    keep: usize,
    at: DateTime<Utc>,
) -> Result<PathBuf, BackupError> {
    let snapshot = ledger.snapshot().await?;
    let dir = dir.to_path_buf();
    let name = format!("{PREFIX}{}{SUFFIX}", at.format("%Y%m%dT%H%M%SZ"));
    let io_dir = dir.clone();
    tokio::task::spawn_blocking(move || write_file(&snapshot, &dir, &name, keep))
        .await
        .map_err(|e| BackupError::Io {
            dir: io_dir.clone(),
            source: io::Error::other(e),
        })?
        .map_err(|source| BackupError::Io {
            dir: io_dir,
            source,
        })
}

fn write_file(snapshot: &Snapshot, dir: &Path, name: &str, keep: usize) -> io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(name);
    let partial = dir.join(format!(".{name}.partial"));
    {
        let file = std::fs::File::create(&partial)?;
        let mut out = io::BufWriter::new(file);
        write(snapshot, &mut out)?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    }
    std::fs::rename(&partial, &path)?;
    std::fs::File::open(dir)?.sync_all()?;
    prune(dir, keep)?;
    Ok(path)
}

/// Deletes the oldest backups in `dir` beyond the newest `keep`. Only files
/// named like backups are touched.
fn prune(dir: &Path, keep: usize) -> io::Result<()> {
    let mut backups: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(PREFIX) && n.ends_with(SUFFIX))
        })
        .collect();
    backups.sort();
    let excess = backups.len().saturating_sub(keep);
    for old in &backups[..excess] {
        std::fs::remove_file(old)?;
    }
    Ok(())
}

/// Takes a backup at every firing of `config.cron` until `shutdown`. A
/// failed backup is logged and counted; the next firing tries again. The
/// schedule starts from the time this is called (not when the returned
/// future is first polled), so a firing right after start-up is not missed.
pub fn schedule(
    ledger: Ledger,
    config: BackupConfig,
    timezone: chrono_tz::Tz,
    clock: Arc<dyn Clock>,
    shutdown: CancellationToken,
) -> impl std::future::Future<Output = ()> + Send {
    let mut after = clock.now();
    async move {
        loop {
            let Some(next) = config
                .cron
                .schedule
                .after(&after.with_timezone(&timezone))
                .next()
            else {
                return;
            };
            let next = next.with_timezone(&Utc);
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = clock.sleep_until(next) => {}
            }
            match take(&ledger, &config.dir, config.keep, next).await {
                Ok(path) => {
                    tracing::info!("backup written to {}", path.display());
                    crate::metrics::backup(true);
                }
                Err(e) => {
                    tracing::error!("backup failed: {e}");
                    crate::metrics::backup(false);
                }
            }
            // After a long pause (a suspended host), skip the missed
            // firings: one backup now is as good as several.
            after = clock.now().max(next);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prune_keeps_the_newest_and_touches_nothing_else() {
        let dir = tempfile::tempdir().expect("tempdir");
        for stamp in ["20261201T000000Z", "20261202T000000Z", "20261203T000000Z"] {
            std::fs::write(dir.path().join(format!("{PREFIX}{stamp}{SUFFIX}")), "{}")
                .expect("write");
        }
        std::fs::write(dir.path().join("notes.txt"), "mine").expect("write");
        prune(dir.path(), 2).expect("prune");
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .expect("read_dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "notes.txt",
                "signalbox-20261202T000000Z.json",
                "signalbox-20261203T000000Z.json"
            ]
        );
    }
}
