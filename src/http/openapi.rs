//! `GET /api/openapi.json`: the API's OpenAPI 3 description, kept beside the
//! routes it describes. Two checks hold it to the server: a Schemathesis run
//! in the integration tests (responses and status codes), and the test below,
//! which reads the route tables in this folder's sources so that a route
//! added without documentation (or documentation left for a route that was
//! removed) fails `cargo test` at once.

use axum::http::header;
use axum::response::IntoResponse;

/// The document, as served.
pub const DOCUMENT: &str = include_str!("openapi.json");

pub async fn serve() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::DOCUMENT;

    /// Routes left out of the document on purpose: platform callbacks whose
    /// wire format Slack and Discord define and which answer only signed
    /// requests.
    const UNDOCUMENTED: &[&str] = &[
        "/slack/commands",
        "/slack/events",
        "/slack/interactions",
        "/discord/interactions",
    ];

    const METHODS: &[&str] = &["get", "post", "put", "patch", "delete"];

    /// `(path, method)` for every `.route("PATH", METHOD(handler)…)` in
    /// `source`; the method router is read up to the call's closing paren,
    /// so a call rustfmt splits over lines still counts.
    fn routes(source: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (at, _) in source.match_indices(".route(") {
            let rest = &source[at + ".route(".len()..];
            let rest = rest.trim_start();
            let Some(rest) = rest.strip_prefix('"') else {
                continue;
            };
            let Some((path, rest)) = rest.split_once('"') else {
                continue;
            };
            let mut depth = 1usize;
            let end = rest
                .char_indices()
                .find(|&(_, c)| {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map_or(rest.len(), |(i, _)| i);
            let methods = &rest[..end];
            for m in METHODS {
                let called = methods.match_indices(&format!("{m}(")).any(|(i, _)| {
                    methods[..i]
                        .chars()
                        .next_back()
                        .is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
                });
                if called {
                    out.push((path.to_string(), m.to_string()));
                }
            }
        }
        out
    }

    /// Every route in the sources of this folder (and its subfolders), read
    /// from disk so that a new module is scanned without being listed here.
    fn served() -> BTreeSet<(String, String)> {
        let mut dirs = vec![std::path::PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src/http"
        ))];
        let mut out = BTreeSet::new();
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).expect("src/http is readable") {
                let path = entry.expect("dir entry").path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs")
                    && !path.ends_with("openapi.rs")
                {
                    let source = std::fs::read_to_string(&path).expect("source");
                    out.extend(
                        routes(&source)
                            .into_iter()
                            .filter(|(p, _)| !UNDOCUMENTED.contains(&p.as_str())),
                    );
                }
            }
        }
        out
    }

    fn documented() -> BTreeSet<(String, String)> {
        let doc: serde_json::Value = serde_json::from_str(DOCUMENT).expect("openapi.json parses");
        let paths = doc["paths"].as_object().expect("paths");
        paths
            .iter()
            .flat_map(|(path, item)| {
                let item = item.as_object().expect("path item");
                METHODS
                    .iter()
                    .filter(|m| item.contains_key(**m))
                    .map(|m| (path.clone(), m.to_string()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn the_scan_finds_the_routes() {
        let found = routes(
            "Routes::new()\n .route(\"/a/{x}\", get(one).delete(drop_it))\n .route(\n \"/b\",\n patch(with(nested)),\n )",
        );
        assert_eq!(
            found,
            [("/a/{x}", "get"), ("/a/{x}", "delete"), ("/b", "patch")]
                .map(|(p, m)| (p.to_string(), m.to_string()))
        );
        assert!(served().contains(&("/api/v1/train".to_string(), "get".to_string())));
    }

    #[test]
    fn every_route_is_documented_and_every_documented_route_served() {
        let served = served();
        let documented = documented();
        let missing: Vec<_> = served.difference(&documented).collect();
        assert!(
            missing.is_empty(),
            "served but not in openapi.json: {missing:?}"
        );
        let stale: Vec<_> = documented.difference(&served).collect();
        assert!(
            stale.is_empty(),
            "in openapi.json but not served: {stale:?}"
        );
        for path in [
            "/api/v1/train",
            "/api/v1/windows",
            "/api/v1/log",
            "/api/v1/loaners",
        ] {
            assert!(
                served.contains(&(path.to_string(), "get".to_string())),
                "{path}"
            );
        }
    }
}
