//! The status board at `GET /`: one page a person can leave open. It is
//! rendered on the server (no frameworks, no external assets); a few lines
//! of script listen on `GET /events` (server-sent events, one per committed
//! change) and fetch `GET /board` to swap the board in place, so the page
//! shows a change within moments. Without script it reloads every 5 s.

mod sections;

use std::sync::Arc;

use axum::Router as Routes;
use axum::extract::State as Extract;
use axum::http::header;
use axum::response::sse::{Event as Sse, KeepAlive};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::WatchStream;

use super::AppState;
use super::api::{UPCOMING_DAYS, upcoming};

pub fn routes() -> Routes<Arc<AppState>> {
    Routes::new()
        .route("/", get(page))
        .route("/board", get(board))
        .route("/events", get(events))
}

/// Two columns on a wide screen, one on a phone; red means act (closed
/// tree, held train, overdue request, alert), amber means wait.
const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1em 1.5em;color:#222;background:#fafafa}\
header{display:flex;align-items:baseline;gap:1em}h1{margin:0 0 .4em}\
h2{margin:0 0 .4em;font-size:1.1em}\
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:1em}\
section{background:#fff;border:1px solid #ddd;border-radius:6px;padding:.8em 1em}\
table{border-collapse:collapse;width:100%}td,th{padding:4px 8px;text-align:left;border-bottom:1px solid #eee;vertical-align:top}\
tr.closed td,tr.overdue td,tr.expired td{background:#f6c6c6}tr.closed td:nth-child(2),tr.overdue td:last-child,tr.expired td:last-child{color:#b71c1c;font-weight:bold}\
tr.approval-required td,tr.waiting td{background:#fbe7b0}tr.open td{background:#d9f2d9}\
.train.held{border-left:6px solid #c62828;padding-left:.6em}.train.rolling{border-left:6px solid #2e7d32;padding-left:.6em}\
.hold{color:#b71c1c;font-weight:bold}.groups .here{font-weight:bold;text-decoration:underline}.groups .todo{color:#999}\
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:.85em;font-weight:bold;color:#fff}\
.badge.bad{background:#c62828}.badge.good{background:#2e7d32}\
.alert{background:#c62828;color:#fff;padding:.6em 1em;font-weight:bold;border-radius:6px}.muted{color:#777;font-weight:normal}\
#live{font-size:.85em;color:#777}#live.on{color:#2e7d32}";

/// Refetch `/board` on every event (the stream also sends one on connect, so
/// a reconnect catches up); a newer fetch wins over a slower older one. Once
/// a minute anyway, so "for 5m" and "as of" stay true.
const SCRIPT: &str = "const board=document.getElementById('board');const live=document.getElementById('live');\
let seq=0;async function refresh(){const n=++seq;try{const r=await fetch('/board',{cache:'no-store'});\
const t=await r.text();if(r.ok&&n===seq){board.innerHTML=t;}}catch(e){}}\
const events=new EventSource('/events');\
events.onopen=()=>{live.textContent='live';live.className='on';};\
events.onerror=()=>{live.textContent='reconnecting…';live.className='';};\
events.onmessage=refresh;setInterval(refresh,60000);";

async fn page(Extract(app): Extract<Arc<AppState>>) -> Html<String> {
    let body = render(&app);
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>signalbox</title>\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <noscript><meta http-equiv=\"refresh\" content=\"5\"></noscript><style>{STYLE}</style></head>\
         <body><header><h1>signalbox</h1><a href=\"/stats\" id=\"stats-link\">duty statistics</a><a href=\"/calendar\" id=\"calendar-link\">calendar</a><span id=\"live\">connecting…</span></header>\
         <div id=\"board\">{body}</div><script>{SCRIPT}</script></body></html>"
    ))
}

/// The board without the page around it, for the script to swap in.
async fn board(Extract(app): Extract<Arc<AppState>>) -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "no-store")], Html(render(&app)))
}

/// One event per committed batch (the id is the newest event's), plus
/// keep-alives.
async fn events(Extract(app): Extract<Arc<AppState>>) -> impl IntoResponse {
    let stream = WatchStream::new(app.ledger.watch())
        .map(|_| Ok::<_, std::convert::Infallible>(Sse::default().data("changed")));
    axum::response::Sse::new(stream).keep_alive(KeepAlive::default())
}

fn render(app: &AppState) -> String {
    let state = app.ledger.state();
    let now = app.clock.now();
    let upcoming = upcoming(app, &state.windows, now, UPCOMING_DAYS);
    sections::render(&sections::View {
        state: &state,
        settings: &app.settings,
        now,
        tz: app.timezone,
        upcoming,
    })
}
