//! The status board at `GET /`: one page a person can leave open. It is
//! rendered on the server (no frameworks, no external assets); a few lines
//! of script listen on `GET /events` (server-sent events, one per committed
//! change) and fetch `GET /board` to swap the board in place, so the page
//! shows a change within moments. Without script it reloads every 5 s.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::Router as Routes;
use axum::extract::State as Extract;
use axum::response::sse::{Event as Sse, KeepAlive};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use signalbox_commands::State;
use signalbox_commands::oncall::{next_change, on_shift};
use signalbox_commands::tree::Status;
use signalbox_commands::when::{format_duration, format_instant};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::WatchStream;

use super::{AppState, escape};

pub fn routes() -> Routes<Arc<AppState>> {
    Routes::new()
        .route("/", get(page))
        .route("/board", get(board))
        .route("/events", get(events))
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}\
h1{margin:0 0 .5em}h2{margin:1.2em 0 .3em;font-size:1.1em}\
table{border-collapse:collapse}td,th{padding:4px 12px;text-align:left;border-bottom:1px solid #ddd}\
tr.closed td{background:#f6c6c6}tr.approval-required td{background:#fbe7b0}tr.open td{background:#d9f2d9}\
.alert{background:#c62828;color:#fff;padding:.6em 1em;font-weight:bold}.muted{color:#777}";

const SCRIPT: &str = "const board=document.getElementById('board');\
const events=new EventSource('/events');\
events.onmessage=async()=>{const r=await fetch('/board');if(r.ok){board.innerHTML=await r.text();}};";

async fn page(Extract(app): Extract<Arc<AppState>>) -> Html<String> {
    let body = render(&app);
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>signalbox</title>\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <noscript><meta http-equiv=\"refresh\" content=\"5\"></noscript><style>{STYLE}</style></head>\
         <body><h1>signalbox</h1><p><a href=\"/stats\" id=\"stats-link\">duty statistics</a></p><div id=\"board\">{body}</div><script>{SCRIPT}</script></body></html>"
    ))
}

async fn board(Extract(app): Extract<Arc<AppState>>) -> Html<String> {
    Html(render(&app))
}

/// One event per committed batch (the id is the newest event's), plus
/// keep-alives.
async fn events(Extract(app): Extract<Arc<AppState>>) -> impl IntoResponse {
    let stream = WatchStream::new(app.ledger.watch())
        .map(|_| Ok::<_, std::convert::Infallible>(Sse::default().data("changed")));
    axum::response::Sse::new(stream).keep_alive(KeepAlive::default())
}

fn render(app: &AppState) -> String {
    let state: Arc<State> = app.ledger.state();
    let now = app.router.clock().now();
    let tz = app.timezone;
    let mut html = String::new();
    if let Some(alert) = &state.status.alert {
        let _ = write!(
            html,
            "<p class=\"alert\" id=\"alert\">ALERT: {} <span>(by {}, since {})</span></p>",
            escape(&alert.text),
            escape(&alert.by),
            format_instant(alert.since, tz)
        );
    }
    html.push_str("<h2>trees</h2><table id=\"trees\"><tr><th>tree</th><th>status</th><th>reason</th><th>tags</th><th>by</th><th>for</th></tr>");
    for t in state.trees.trees.values() {
        let c = &t.condition;
        let since = t
            .since
            .filter(|_| c.status != Status::Open)
            .map(|s| format_duration(now - s))
            .unwrap_or_default();
        let _ = write!(
            html,
            "<tr class=\"{}\" data-tree=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            c.status.as_str().replace(' ', "-"),
            escape(t.name.as_str()),
            escape(t.name.as_str()),
            c.status.as_str(),
            escape(&c.reason),
            escape(&c.tags.join(", ")),
            t.by.as_deref().map(escape).unwrap_or_default(),
            since,
        );
    }
    html.push_str("</table>");
    let settings = app.router.settings();
    if !settings.rotations.is_empty() {
        html.push_str("<h2>on duty</h2><table id=\"duty\"><tr><th>rotation</th><th>on shift</th><th>until</th></tr>");
        for r in &settings.rotations {
            let person = on_shift(r, &state.duty, now)
                .map_or_else(|| "nobody".to_string(), |p| p.to_string());
            let _ = write!(
                html,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&r.name),
                escape(&person),
                format_instant(next_change(r, &state.duty, now), tz)
            );
        }
        html.push_str("</table>");
    }
    let _ = write!(
        html,
        "<p class=\"muted\">as of {}</p>",
        format_instant(now, tz)
    );
    html
}
