//! The board's sections, one function each, from the ledger's latest state to
//! HTML. Everything a person must notice at a glance carries a class the style
//! colours (a closed tree, a held train, an overdue request) and a word that
//! says the same without colour; element ids and `data-*` attributes are what
//! the browser test reads. Every string from state or config is escaped.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use signalbox_commands::loaner::{Request, Status as LoanStatus};
use signalbox_commands::oncall::{next_change, on_shift};
use signalbox_commands::task::TaskRef;
use signalbox_commands::train::{TrainRun, TrainState};
use signalbox_commands::tree::Status;
use signalbox_commands::when::{format_duration, format_instant};
use signalbox_commands::window::Upcoming;
use signalbox_commands::{Settings, State};

use crate::http::escape;

/// Most window occurrences the board lists.
const WINDOWS_SHOWN: usize = 5;

/// What every section reads.
pub struct View<'a> {
    pub state: &'a State,
    pub settings: &'a Settings,
    pub now: DateTime<Utc>,
    pub tz: Tz,
    /// Window occurrences to come, by start.
    pub upcoming: Vec<Upcoming>,
}

/// The whole board: alert, trees, train, duty, windows, loaners.
pub fn render(v: &View) -> String {
    let mut html = String::new();
    alert(&mut html, v);
    html.push_str("<div class=\"grid\">");
    trees(&mut html, v);
    train(&mut html, v);
    duty(&mut html, v);
    windows(&mut html, v);
    loaners(&mut html, v);
    html.push_str("</div>");
    let _ = write!(
        html,
        "<p class=\"muted\">as of {}</p>",
        format_instant(v.now, v.tz)
    );
    html
}

fn alert(html: &mut String, v: &View) {
    if let Some(alert) = &v.state.status.alert {
        let _ = write!(
            html,
            "<p class=\"alert\" id=\"alert\">ALERT: {} <span>(by {}, since {})</span></p>",
            escape(&alert.text),
            escape(&alert.by),
            format_instant(alert.since, v.tz)
        );
    }
}

fn trees(html: &mut String, v: &View) {
    let closed = v
        .state
        .trees
        .trees
        .values()
        .filter(|t| t.condition.status == Status::Closed)
        .count();
    let _ = write!(
        html,
        "<section id=\"trees-section\"><h2>trees{}</h2>",
        if closed > 0 {
            format!(" <span class=\"badge bad\">{closed} closed</span>")
        } else {
            String::new()
        }
    );
    html.push_str(
        "<table id=\"trees\"><tr><th>tree</th><th>status</th><th>reason</th><th>tags</th><th>by</th><th>for</th></tr>",
    );
    for t in v.state.trees.trees.values() {
        let c = &t.condition;
        let since = t
            .since
            .filter(|_| c.status != Status::Open)
            .map(|s| format_duration(v.now - s))
            .unwrap_or_default();
        let _ = write!(
            html,
            "<tr class=\"{}\" data-tree=\"{}\"><td><b>{}</b></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            c.status.as_str().replace(' ', "-"),
            escape(t.name.as_str()),
            escape(t.name.as_str()),
            c.status.as_str().to_uppercase(),
            escape(&c.reason),
            escape(&c.tags.join(", ")),
            t.by.as_deref().map(escape).unwrap_or_default(),
            since,
        );
    }
    if v.state.trees.trees.is_empty() {
        html.push_str("<tr><td colspan=\"6\" class=\"muted\">no trees</td></tr>");
    }
    html.push_str("</table></section>");
}

/// A task as a link when its URL is a web address, else its id.
fn task(t: &TaskRef) -> String {
    match t.url.as_deref() {
        Some(url) if url.starts_with("https://") || url.starts_with("http://") => {
            format!("<a href=\"{}\">{}</a>", escape(url), escape(&t.id))
        }
        _ => escape(&t.id),
    }
}

fn train(html: &mut String, v: &View) {
    html.push_str("<section id=\"train-section\"><h2>train</h2>");
    let Some(run) = &v.state.trains.current else {
        html.push_str("<p id=\"train\" data-state=\"none\" class=\"muted\">no train running");
        if let Some(last) = v.state.trains.history.last() {
            let _ = write!(
                html,
                "; last: {} ({}, reached {})",
                escape(&last.version),
                last.state.as_str(),
                escape(&last.group)
            );
        }
        html.push_str("</p></section>");
        return;
    };
    let state = run.state.as_str();
    let _ = write!(
        html,
        "<div id=\"train\" class=\"train {state}\" data-state=\"{state}\">\
         <p><span class=\"badge {}\">{}</span> <b>{}</b> conducted by {}, started {} ago</p>",
        if run.state == TrainState::Held {
            "bad"
        } else {
            "good"
        },
        state.to_uppercase(),
        escape(&run.version),
        escape(&run.conductor),
        format_duration(v.now - run.started),
    );
    groups(html, v, run);
    if let Some(hold) = &run.hold {
        let tasks: Vec<String> = hold.tasks.iter().map(task).collect();
        let _ = write!(
            html,
            "<p class=\"hold\" id=\"hold\">held by {} for {}: {}{}</p>",
            escape(&hold.by),
            format_duration(v.now - hold.since),
            escape(&hold.reason),
            if tasks.is_empty() {
                String::new()
            } else {
                format!(" — blocked on {}", tasks.join(", "))
            }
        );
    }
    if !run.blockers.is_empty() {
        html.push_str("<p>blockers:</p><ul id=\"blockers\">");
        for b in run.blockers.values() {
            let _ = write!(
                html,
                "<li data-task=\"{}\">{}: {} <span class=\"muted\">(by {}, {} ago)</span></li>",
                escape(&b.task.id),
                task(&b.task),
                escape(&b.reason),
                escape(&b.by),
                format_duration(v.now - b.since)
            );
        }
        html.push_str("</ul>");
    }
    html.push_str("</div></section>");
}

/// The groups in promotion order, the reached one marked.
fn groups(html: &mut String, v: &View, run: &TrainRun) {
    if v.settings.train_groups.is_empty() {
        return;
    }
    html.push_str("<p class=\"groups\">");
    let reached = v.settings.train_groups.iter().position(|g| *g == run.group);
    for (i, g) in v.settings.train_groups.iter().enumerate() {
        if i > 0 {
            html.push_str(" → ");
        }
        let class = match reached {
            Some(r) if i == r => "here",
            Some(r) if i < r => "done",
            _ => "todo",
        };
        let _ = write!(html, "<span class=\"{class}\">{}</span>", escape(g));
    }
    html.push_str("</p>");
}

fn duty(html: &mut String, v: &View) {
    if v.settings.rotations.is_empty() {
        return;
    }
    html.push_str(
        "<section id=\"duty-section\"><h2>on duty</h2><table id=\"duty\"><tr><th>rotation</th><th>on shift</th><th>until</th></tr>",
    );
    for r in &v.settings.rotations {
        let person = on_shift(r, &v.state.duty, v.now)
            .map_or_else(|| "nobody".to_string(), |p| p.to_string());
        let _ = write!(
            html,
            "<tr data-rotation=\"{}\"><td>{}</td><td><b>{}</b></td><td>{}</td></tr>",
            escape(&r.name),
            escape(&r.name),
            escape(&person),
            format_instant(next_change(r, &v.state.duty, v.now), v.tz)
        );
    }
    html.push_str("</table></section>");
}

fn windows(html: &mut String, v: &View) {
    let w = &v.state.windows;
    if v.upcoming.is_empty() && w.active.is_none() && v.settings.windows.is_empty() {
        return;
    }
    html.push_str("<section id=\"windows-section\"><h2>deploy windows</h2>");
    if let Some(s) = &w.active {
        let _ = write!(
            html,
            "<p id=\"window-open\"><span class=\"badge good\">OPEN</span> <b>{}</b> since {} (by {}), {} log entr{}</p>",
            escape(&s.window),
            format_instant(s.started, v.tz),
            escape(&s.by),
            s.entries,
            if s.entries == 1 { "y" } else { "ies" }
        );
    }
    html.push_str(
        "<table id=\"windows\"><tr><th>window</th><th>starts</th><th>length</th><th>deployers</th><th>queued</th></tr>",
    );
    for u in v.upcoming.iter().take(WINDOWS_SHOWN) {
        let queued = w
            .queue
            .iter()
            .filter(|p| p.window == u.name && p.occurrence == u.start)
            .count();
        let deployers: Vec<String> = u.deployers.iter().map(|d| escape(d.as_str())).collect();
        let _ = write!(
            html,
            "<tr data-window=\"{}\"><td>{}{}</td><td>{} <span class=\"muted\">(in {})</span></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&u.name),
            escape(&u.name),
            if u.recurring {
                ""
            } else {
                " <span class=\"muted\">(one-off)</span>"
            },
            format_instant(u.start, v.tz),
            format_duration(u.start - v.now),
            format_duration(u.end - u.start),
            deployers.join(", "),
            queued,
        );
    }
    if v.upcoming.is_empty() {
        html.push_str("<tr><td colspan=\"5\" class=\"muted\">none in the next 7 days</td></tr>");
    }
    html.push_str("</table></section>");
}

/// Open requests (pending, wait-listed) and active loans; overdue requests
/// and expired loans stand out.
fn loaners(html: &mut String, v: &View) {
    let open: Vec<&Request> = v
        .state
        .loaners
        .requests
        .values()
        .filter(|r| {
            matches!(
                r.status,
                LoanStatus::Pending | LoanStatus::Waitlisted | LoanStatus::Active
            )
        })
        .collect();
    if open.is_empty() && v.settings.pools.is_empty() {
        return;
    }
    let pending = open
        .iter()
        .filter(|r| r.status == LoanStatus::Pending)
        .count();
    let overdue = open.iter().filter(|r| r.overdue_at(v.now)).count();
    let _ = write!(
        html,
        "<section id=\"loaners-section\"><h2>loaners <span class=\"muted\">{pending} pending</span>{}</h2>",
        if overdue > 0 {
            format!(" <span class=\"badge bad\">{overdue} overdue</span>")
        } else {
            String::new()
        }
    );
    html.push_str(
        "<table id=\"loaners\"><tr><th>#</th><th>pool</th><th>who</th><th>for</th><th>reason</th><th>status</th></tr>",
    );
    for r in &open {
        let (class, status) = request_status(r, v);
        let _ = write!(
            html,
            "<tr class=\"{class}\" data-request=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            r.id,
            r.id,
            escape(&r.pool),
            escape(r.requester.as_str()),
            format_duration(r.length),
            escape(&r.reason),
            status,
        );
    }
    if open.is_empty() {
        html.push_str("<tr><td colspan=\"6\" class=\"muted\">no open requests</td></tr>");
    }
    html.push_str("</table></section>");
}

/// The row's class and its status text.
fn request_status(r: &Request, v: &View) -> (&'static str, String) {
    match r.status {
        LoanStatus::Pending if r.overdue_at(v.now) => (
            "overdue",
            format!(
                "OVERDUE: pending {}, answer was due {}",
                format_duration(v.now - r.requested),
                format_instant(r.sla_due, v.tz)
            ),
        ),
        LoanStatus::Pending => (
            "pending",
            format!(
                "pending {}, answer by {}",
                format_duration(v.now - r.requested),
                format_instant(r.sla_due, v.tz)
            ),
        ),
        LoanStatus::Active => {
            let on = r.machine.as_deref().map(escape).unwrap_or_default();
            let until = r
                .expires
                .map(|e| format_instant(e, v.tz))
                .unwrap_or_default();
            if r.expired {
                ("expired", format!("EXPIRED: on {on} since {until}"))
            } else {
                ("active", format!("on {on} until {until}"))
            }
        }
        other => ("waiting", other.as_str().to_string()),
    }
}
