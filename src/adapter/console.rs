//! The console adapter: the operator's terminal, or a script's pipe. Each
//! input line is a message in `console:#ops` from the configured person;
//! replies and announcements for `console:` channels are printed. Lines are
//! handled one after the other, so a script's output follows its input.

use std::io::Write;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use signalbox_commands::{ChannelAddr, Network, PlatformUserId};
use tokio::io::{AsyncBufRead, AsyncBufReadExt};
use tokio_util::sync::CancellationToken;

use super::{Adapter, SendError};
use crate::outbox::Destination;
use crate::router::{Inbound, Router};

/// The channel console lines are said in.
pub fn channel() -> ChannelAddr {
    ChannelAddr::new(Network::Console, "#ops")
}

pub struct Console {
    person: PlatformUserId,
    out: Mutex<Box<dyn Write + Send>>,
}

impl Console {
    pub fn new(person: PlatformUserId, out: Box<dyn Write + Send>) -> Self {
        Self {
            person,
            out: Mutex::new(out),
        }
    }

    fn print(&self, text: &str) {
        let mut out = self
            .out
            .lock()
            .expect("console output lock is never poisoned: writes do not panic");
        // A closed stdout (a script stopped reading) is not the bot's failure.
        let _ = writeln!(out, "{text}").and_then(|()| out.flush());
    }

    /// Handles every line of `input` in order; returns at end of input.
    pub async fn serve(
        &self,
        router: &Router,
        input: impl AsyncBufRead + Unpin,
        shutdown: &CancellationToken,
    ) {
        let mut lines = input.split(b'\n');
        let mut number = 0usize;
        loop {
            let line = tokio::select! {
                _ = shutdown.cancelled() => return,
                line = lines.next_segment() => line,
            };
            let bytes = match line {
                Ok(Some(bytes)) => bytes,
                Ok(None) => return,
                Err(e) => {
                    tracing::error!("console input failed: {e}");
                    return;
                }
            };
            number += 1;
            let bytes = bytes.strip_suffix(b"\r").unwrap_or(&bytes);
            let Ok(text) = std::str::from_utf8(bytes) else {
                self.print(&format!(
                    "line {number} is not valid UTF-8; nothing was run"
                ));
                continue;
            };
            let msg = Inbound {
                network: Network::Console,
                channel: Some(channel()),
                user: self.person.clone(),
                text: text.to_string(),
                id: None,
                aliases: Vec::new(),
            };
            if let Some(reply) = router.dispatch(&msg).await {
                self.print(&reply);
            }
        }
    }
}

#[async_trait]
impl Adapter for Console {
    fn network(&self) -> Network {
        Network::Console
    }

    /// In `run`, the console only prints: it waits for shutdown.
    async fn run(
        self: Arc<Self>,
        _router: Arc<Router>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        shutdown.cancelled().await;
        Ok(())
    }

    async fn send(&self, to: &Destination, text: &str) -> Result<(), SendError> {
        match to {
            Destination::Channel(c) => self.print(&format!("[{c}] {text}")),
            Destination::Direct { user, .. } => self.print(&format!("[to {user}] {text}")),
            Destination::Topic(c) => self.print(&format!("[{c}] topic: {text}")),
        }
        Ok(())
    }
}
