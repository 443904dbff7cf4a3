//! Duty statistics over HTTP: `GET /api/v1/stats/{trees,windows,loaners,trains}`
//! (JSON, with weekly series for charts) and `GET /stats`, a page of
//! server-rendered SVG charts linked from the board. Both take
//! `since`/`until` (RFC 3339; default the last 30 days, ending now at the
//! latest) and call the same core functions as `!stats`, so chat, API and
//! page always agree. The history walk reads sled, so it runs on the
//! blocking pool.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::Router as Routes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State as Extract};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Json, Response};
use axum::routing::get;
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use serde_json::json;
use signalbox_commands::stats::{self, Span, loaners, trains, trees, windows};
use signalbox_commands::when::format_instant;
use signalbox_commands::{Error, History, State, TreeName};

use super::chart::{Bar, Chart, PALETTE, Series};
use super::{AppState, escape};

/// Most bars a per-item chart draws (the newest); the API returns them all.
const MAX_BARS: usize = 60;

pub fn routes() -> Routes<Arc<AppState>> {
    Routes::new()
        .route("/api/v1/stats/trees", get(tree_stats))
        .route("/api/v1/stats/windows", get(window_stats))
        .route("/api/v1/stats/loaners", get(loaner_stats))
        .route("/api/v1/stats/trains", get(train_stats))
        .route("/stats", get(page))
}

/// `since`/`until`, and for trees (and the page) `tree`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TreeParams {
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    tree: Option<String>,
}

fn problem(status: StatusCode, detail: String) -> Response {
    let body = json!({
        "title": status.canonical_reason().unwrap_or("error"),
        "status": status.as_u16(),
        "detail": detail,
    });
    (status, Json(body)).into_response()
}

fn from_error(e: &Error) -> Response {
    let status = match e {
        Error::NotFound(_) => StatusCode::NOT_FOUND,
        _ => StatusCode::BAD_REQUEST,
    };
    problem(status, e.to_string())
}

/// The span the parameters ask for.
fn span_of(
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Span, Error> {
    let end = until.unwrap_or(now).min(now);
    let since = match since {
        Some(s) => s,
        None => end
            .checked_sub_signed(Duration::days(stats::span::DEFAULT_DAYS))
            .ok_or_else(|| Error::invalid("until is too early"))?,
    };
    Span::new(since, until.unwrap_or(now), now)
}

/// Runs `f` on the state and history on the blocking pool.
async fn with_history<T, F>(app: &AppState, f: F) -> Result<T, Response>
where
    T: Send + 'static,
    F: FnOnce(&State, &dyn History) -> T + Send + 'static,
{
    let ledger = app.ledger.clone();
    tokio::task::spawn_blocking(move || {
        let state = ledger.state();
        f(&state, &ledger.history())
    })
    .await
    .map_err(|e| problem(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

fn json_of<T: serde::Serialize>(value: Result<T, Response>) -> Response {
    match value {
        Ok(v) => Json(v).into_response(),
        Err(r) => r,
    }
}

async fn tree_stats(
    Extract(app): Extract<Arc<AppState>>,
    params: Result<Query<TreeParams>, QueryRejection>,
) -> Response {
    let Query(p) = match params {
        Ok(p) => p,
        Err(e) => return problem(StatusCode::BAD_REQUEST, e.body_text()),
    };
    let now = app.clock.now();
    let span = match span_of(p.since, p.until, now) {
        Ok(s) => s,
        Err(e) => return from_error(&e),
    };
    let tree = match p.tree.as_deref().filter(|t| !t.is_empty()) {
        Some(t) => match stats::known_tree(&app.ledger.state(), t) {
            Ok(t) => Some(t),
            Err(e) => return from_error(&e),
        },
        None => None,
    };
    let tz = app.timezone;
    json_of(
        with_history(&app, move |state, history| {
            trees::stats(history, &state.trees, tree.as_ref(), span, now, tz)
        })
        .await,
    )
}

async fn window_stats(
    Extract(app): Extract<Arc<AppState>>,
    params: Result<Query<Params>, QueryRejection>,
) -> Response {
    let (span, tz) = match simple(&app, params) {
        Ok(x) => x,
        Err(e) => return from_error(&e),
    };
    json_of(with_history(&app, move |_, history| windows::stats(history, span, tz)).await)
}

async fn loaner_stats(
    Extract(app): Extract<Arc<AppState>>,
    params: Result<Query<Params>, QueryRejection>,
) -> Response {
    let (span, tz) = match simple(&app, params) {
        Ok(x) => x,
        Err(e) => return from_error(&e),
    };
    json_of(
        with_history(&app, move |state, history| {
            loaners::stats(history, &state.loaners, span, tz)
        })
        .await,
    )
}

async fn train_stats(
    Extract(app): Extract<Arc<AppState>>,
    params: Result<Query<Params>, QueryRejection>,
) -> Response {
    let (span, tz) = match simple(&app, params) {
        Ok(x) => x,
        Err(e) => return from_error(&e),
    };
    let now = app.clock.now();
    json_of(
        with_history(&app, move |_, history| {
            trains::stats(history, span, now, tz)
        })
        .await,
    )
}

/// The span (and time zone) of a family without further parameters.
fn simple(
    app: &AppState,
    params: Result<Query<Params>, QueryRejection>,
) -> Result<(Span, Tz), Error> {
    let Query(p) = params.map_err(|e| Error::invalid(e.body_text()))?;
    let span = span_of(p.since, p.until, app.clock.now())?;
    Ok((span, app.timezone))
}

/// Everything the page shows.
struct Report {
    trees: trees::TreeStats,
    windows: windows::WindowStats,
    loaners: loaners::LoanerStats,
    trains: trains::TrainStats,
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;max-width:800px}\
h1{margin:0 0 .3em}h2{margin:1.4em 0 .3em;font-size:1.1em}.muted{color:#666}\
.summary{margin:.2em 0 .5em;line-height:1.4}svg.chart{max-width:100%;height:auto;display:block}\
nav a{margin-right:.8em}";

async fn page(
    Extract(app): Extract<Arc<AppState>>,
    params: Result<Query<TreeParams>, QueryRejection>,
) -> Response {
    let bad = |msg: String| {
        (
            StatusCode::BAD_REQUEST,
            Html(format!(
                "<!doctype html><html><head><meta charset=\"utf-8\"><title>bad request</title></head>\
                 <body><p>{}</p><p><a href=\"/stats\">the last 30 days</a></p></body></html>",
                escape(&msg)
            )),
        )
            .into_response()
    };
    let p = match params {
        Ok(Query(p)) => p,
        Err(e) => return bad(e.body_text()),
    };
    let now = app.clock.now();
    let span = match span_of(p.since, p.until, now) {
        Ok(s) => s,
        Err(e) => return bad(e.to_string()),
    };
    let tree: Option<TreeName> = match p.tree.as_deref().filter(|t| !t.is_empty()) {
        Some(t) => match stats::known_tree(&app.ledger.state(), t) {
            Ok(t) => Some(t),
            Err(e) => return bad(e.to_string()),
        },
        None => None,
    };
    let tz = app.timezone;
    let report = with_history(&app, move |state, history| Report {
        trees: trees::stats(history, &state.trees, tree.as_ref(), span, now, tz),
        windows: windows::stats(history, span, tz),
        loaners: loaners::stats(history, &state.loaners, span, tz),
        trains: trains::stats(history, span, now, tz),
    })
    .await;
    match report {
        Ok(report) => Html(render(&report, span, now, tz)).into_response(),
        Err(r) => r,
    }
}

fn render(r: &Report, span: Span, now: DateTime<Utc>, tz: Tz) -> String {
    let mut html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>signalbox — duty statistics</title>\
         <meta name=\"viewport\" content=\"width=device-width\"><style>{STYLE}</style></head><body>\
         <h1>duty statistics</h1><p class=\"muted\" id=\"span\">{} – {}</p><nav>",
        format_instant(span.since, tz),
        format_instant(span.until, tz),
    );
    for (label, days) in [
        ("7 days", 7),
        ("30 days", 30),
        ("12 weeks", 84),
        ("a year", 365),
    ] {
        let since = (now - Duration::days(days)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let _ = write!(
            html,
            "<a href=\"/stats?since={}\">{label}</a>",
            escape(&since.replace('+', "%2B"))
        );
    }
    html.push_str("<a href=\"/\">the board</a></nav>");
    let label = "in this span";
    section(
        &mut html,
        "trees",
        &stats::trees_summary(&r.trees, label),
        &tree_chart(&r.trees, tz),
    );
    section(
        &mut html,
        "loaners",
        &stats::loaners_summary(&r.loaners, label),
        &loaner_chart(&r.loaners, tz),
    );
    section(
        &mut html,
        "windows",
        &stats::windows_summary(&r.windows, label, tz),
        &window_chart(&r.windows, tz),
    );
    section(
        &mut html,
        "trains",
        &stats::trains_summary(&r.trains, label),
        &train_chart(&r.trains),
    );
    let _ = write!(
        html,
        "<p class=\"muted\">the same numbers as JSON: <a href=\"/api/v1/stats/trees\">/api/v1/stats/trees</a>, \
         <a href=\"/api/v1/stats/windows\">windows</a>, <a href=\"/api/v1/stats/loaners\">loaners</a>, \
         <a href=\"/api/v1/stats/trains\">trains</a>; as of {}</p></body></html>",
        format_instant(now, tz)
    );
    html
}

fn section(html: &mut String, id: &str, summary: &str, chart: &Chart) {
    let lines: Vec<String> = summary.lines().map(escape).collect();
    let _ = write!(
        html,
        "<section id=\"{id}\"><h2>{id}</h2><p class=\"summary\">{}</p>{}</section>",
        lines.join("<br>"),
        chart.render()
    );
}

fn day(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%m-%d").to_string()
}

fn tree_chart(s: &trees::TreeStats, tz: Tz) -> Chart {
    let mut categories: Vec<(&String, f64)> = s.categories.iter().map(|(k, v)| (k, *v)).collect();
    categories.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let series: Vec<Series> = categories
        .iter()
        .enumerate()
        .map(|(i, (name, _))| Series {
            name: name.to_string(),
            colour: if name.as_str() == trees::UNTAGGED {
                "#9e9e9e".to_string()
            } else {
                PALETTE[i % PALETTE.len()].to_string()
            },
        })
        .collect();
    let bars = s
        .weeks
        .iter()
        .map(|w| {
            let values: Vec<f64> = categories
                .iter()
                .map(|(c, _)| w.categories.get(*c).copied().unwrap_or(0.0))
                .collect();
            Bar {
                label: day(w.span.since, tz),
                title: format!(
                    "week from {}: {:.1} h closed, {} closures",
                    format_instant(w.span.since, tz),
                    w.closed_hours,
                    w.closures
                ),
                values,
                marker: None,
            }
        })
        .collect();
    let what = s
        .tree
        .as_ref()
        .map_or_else(|| "trees".to_string(), |t| t.to_string());
    Chart {
        id: "chart-trees".into(),
        title: format!("{what}: closed hours per week by reason category"),
        unit: "hours closed".into(),
        series,
        bars,
        marker: None,
    }
}

fn loaner_chart(s: &loaners::LoanerStats, tz: Tz) -> Chart {
    let skip = s.answers.len().saturating_sub(MAX_BARS);
    let bars = s
        .answers
        .iter()
        .skip(skip)
        .map(|a| {
            let values = if a.within_sla {
                vec![a.response_hours, 0.0]
            } else {
                vec![0.0, a.response_hours]
            };
            Bar {
                label: day(a.requested, tz),
                title: format!(
                    "#{} {} requested {}: answered in {:.1} h; the SLA allowed {:.1} h",
                    a.id,
                    a.pool,
                    format_instant(a.requested, tz),
                    a.response_hours,
                    a.sla_hours
                ),
                values,
                marker: Some(a.sla_hours),
            }
        })
        .collect();
    Chart {
        id: "chart-loaners".into(),
        title: "loaner response time per request, against the SLA".into(),
        unit: "hours to answer".into(),
        series: vec![
            Series {
                name: "within SLA".into(),
                colour: "#59a14f".into(),
            },
            Series {
                name: "late".into(),
                colour: "#e15759".into(),
            },
        ],
        bars,
        marker: Some("SLA deadline".into()),
    }
}

fn window_chart(s: &windows::WindowStats, tz: Tz) -> Chart {
    let skip = s.held.len().saturating_sub(MAX_BARS);
    let bars = s
        .held
        .iter()
        .skip(skip)
        .map(|w| Bar {
            label: day(w.opened, tz),
            title: format!(
                "{} opened {}: {} patches{}",
                w.window,
                format_instant(w.opened, tz),
                w.patches,
                w.minutes
                    .map(|m| format!(", {m:.0} min"))
                    .unwrap_or_else(|| ", still open".to_string())
            ),
            values: vec![w.patches as f64],
            marker: None,
        })
        .collect();
    Chart {
        id: "chart-windows".into(),
        title: "patches per deploy window".into(),
        unit: "patches".into(),
        series: vec![Series {
            name: "patches".into(),
            colour: PALETTE[0].into(),
        }],
        bars,
        marker: None,
    }
}

fn train_chart(s: &trains::TrainStats) -> Chart {
    let skip = s.trains.len().saturating_sub(MAX_BARS / 3);
    let bars = s
        .trains
        .iter()
        .skip(skip)
        .map(|t| Bar {
            label: t.version.chars().take(14).collect(),
            title: format!(
                "{}: held {:.1} h in {} holds",
                t.version, t.hold_hours, t.holds
            ),
            values: vec![t.hold_hours],
            marker: None,
        })
        .collect();
    Chart {
        id: "chart-trains".into(),
        title: "train hold hours per train".into(),
        unit: "hours held".into(),
        series: vec![Series {
            name: "hold hours".into(),
            colour: PALETTE[1].into(),
        }],
        bars,
        marker: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("test instant")
    }

    #[test]
    fn spans_default_to_30_days_and_refuse_bad_ones() {
        let now = at("2026-11-22T12:00:00Z");
        let s = span_of(None, None, now).expect("default");
        assert_eq!((s.since, s.until), (at("2026-10-23T12:00:00Z"), now));
        let s = span_of(None, Some(at("2026-11-01T00:00:00Z")), now).expect("until");
        assert_eq!(s.since, at("2026-10-02T00:00:00Z"));
        let s = span_of(
            Some(at("2026-11-01T00:00:00Z")),
            Some(at("2030-01-01T00:00:00Z")),
            now,
        )
        .expect("until clamped to now");
        assert_eq!(s.until, now);
        assert!(span_of(Some(now), Some(at("2026-11-01T00:00:00Z")), now).is_err());
        assert!(span_of(Some(at("0001-01-01T00:00:00Z")), None, now).is_err());
        assert!(span_of(None, Some(at("0000-01-01T00:00:00Z")), now).is_ok());
    }
}
