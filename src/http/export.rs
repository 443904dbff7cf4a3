//! `GET /api/v1/export`: the live backup. The same document `signalbox
//! export` prints, taken from a consistent snapshot of the running ledger
//! (see [`crate::backup`]) and streamed as it is written, for an admin's
//! bearer token only: it holds every event and person.

use std::io::{self, Write};
use std::sync::Arc;

use axum::Router as Routes;
use axum::body::{Body, Bytes};
use axum::extract::State as Extract;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use signalbox_commands::Role;
use tokio::sync::mpsc;

use super::AppState;
use super::treestatus::{authorise, problem};

/// Bytes handed to the response per chunk.
const CHUNK: usize = 64 * 1024;

pub fn routes() -> Routes<Arc<AppState>> {
    Routes::new().route("/api/v1/export", get(export))
}

async fn export(Extract(app): Extract<Arc<AppState>>, headers: HeaderMap) -> Response {
    let caller = match authorise(&app, &headers) {
        Ok((caller, _)) => caller,
        Err(refused) => return refused.into_response(),
    };
    if !caller.has(Role::Admin) {
        return problem(
            StatusCode::FORBIDDEN,
            format!(
                "the export needs the admin role, which {} lacks",
                caller.handle
            ),
        )
        .into_response();
    }
    let snapshot = match app.ledger.snapshot().await {
        Ok(s) => s,
        Err(e) => return problem(StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    };
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(4);
    tokio::task::spawn_blocking(move || {
        let mut out = io::BufWriter::with_capacity(CHUNK, Chunks(tx.clone()));
        if let Err(e) = crate::backup::write(&snapshot, &mut out) {
            // The client went away, or the log could not be read: end the
            // body with an error so the client sees a truncated transfer.
            tracing::warn!("export stream ended early: {e}");
            let _ = tx.blocking_send(Err(e));
        }
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// A writer that hands each buffer to the response body.
struct Chunks(mpsc::Sender<io::Result<Bytes>>);

impl Write for Chunks {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .blocking_send(Ok(Bytes::copy_from_slice(buf)))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
