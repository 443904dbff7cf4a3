//! Task references in free text (`T123`, `bug 456`, a Gerrit or pull-request
//! URL), found by configurable patterns, so that holds, log entries and
//! replies link to the tracker the team uses.

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::Error;

/// A task found in text: its canonical id and where it lives.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TaskRef {
    pub id: String,
    pub url: Option<String>,
}

/// One pattern: a regex whose whole match is the task id, and a URL template
/// in which `{0}` is the whole match and `{1}`… are its groups.
#[derive(Debug, Clone)]
pub struct TaskPattern {
    pub name: String,
    regex: Regex,
    url: Option<String>,
}

impl TaskPattern {
    pub fn new(name: &str, pattern: &str, url: Option<&str>) -> Result<Self, Error> {
        let regex = Regex::new(pattern).map_err(|e| {
            Error::invalid(format!(
                "task pattern \"{pattern}\" is not a valid regex: {e}"
            ))
        })?;
        Ok(Self {
            name: name.to_string(),
            regex,
            url: url.map(str::to_string),
        })
    }
}

/// The ordered set of patterns; earlier patterns win on overlapping matches.
#[derive(Debug, Clone)]
pub struct TaskPatterns(Vec<TaskPattern>);

impl Default for TaskPatterns {
    /// Phabricator `T123`, Bugzilla `bug 456`, Gerrit change and GitHub/GitLab
    /// pull-request URLs (which are their own link).
    fn default() -> Self {
        let defaults = [
            (
                "phabricator",
                r"\bT[0-9]+\b",
                Some("https://phabricator.wikimedia.org/{0}"),
            ),
            (
                "bugzilla",
                r"(?i)\bbug\s+([0-9]+)\b",
                Some("https://bugzilla.mozilla.org/show_bug.cgi?id={1}"),
            ),
            (
                "gerrit",
                r"https?://[^\s/]+/(?:r/)?c/[^\s]+/\+/[0-9]+",
                None,
            ),
            (
                "pull",
                r"https?://[^\s/]+/[^\s/]+/[^\s/]+/(?:pull|merge_requests)/[0-9]+",
                None,
            ),
        ];
        let patterns = defaults
            .into_iter()
            .map(|(name, pattern, url)| {
                TaskPattern::new(name, pattern, url).expect("built-in task patterns are valid")
            })
            .collect();
        TaskPatterns(patterns)
    }
}

impl TaskPatterns {
    pub fn new(patterns: Vec<TaskPattern>) -> Self {
        TaskPatterns(patterns)
    }

    /// Every task referenced in `text`, once each, in order of appearance.
    pub fn find(&self, text: &str) -> Vec<TaskRef> {
        let mut hits: Vec<(usize, usize, TaskRef)> = Vec::new();
        for pattern in &self.0 {
            for caps in pattern.regex.captures_iter(text) {
                let whole = caps.get(0).expect("group 0 always matches");
                if hits
                    .iter()
                    .any(|(s, e, _)| whole.start() < *e && *s < whole.end())
                {
                    continue;
                }
                let id = whole
                    .as_str()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ");
                let url = match &pattern.url {
                    None => Some(id.clone()).filter(|id| id.starts_with("http")),
                    Some(template) => {
                        let mut url = template.clone();
                        for (i, group) in caps.iter().enumerate() {
                            url =
                                url.replace(&format!("{{{i}}}"), group.map_or("", |g| g.as_str()));
                        }
                        Some(url)
                    }
                };
                hits.push((whole.start(), whole.end(), TaskRef { id, url }));
            }
        }
        hits.sort_by_key(|(start, _, _)| *start);
        let mut refs: Vec<TaskRef> = Vec::new();
        for (_, _, r) in hits {
            if !refs.iter().any(|seen| seen.id.eq_ignore_ascii_case(&r.id)) {
                refs.push(r);
            }
        }
        refs
    }

    /// `text` with the links of its tasks appended: `… (T123 https://…)`.
    /// References that are already URLs, or whose link the text already
    /// holds (a summary that links each line), are left as they are.
    pub fn linkify(&self, text: &str) -> String {
        let links: Vec<String> = self
            .find(text)
            .into_iter()
            .filter_map(|r| {
                r.url
                    .filter(|u| *u != r.id && !text.contains(u.as_str()))
                    .map(|u| format!("{} {u}", r.id))
            })
            .collect();
        if links.is_empty() {
            text.to_string()
        } else {
            format!("{text} ({})", links.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_each_task_once_in_order() {
        let p = TaskPatterns::default();
        let found: Vec<String> = p
            .find("T123 and T123, bug 456 then Bug  456 and T9x")
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(found, ["T123", "bug 456"]);
        let pr = p.find(
            "see https://github.com/o/r/pull/42 and https://gerrit.example.org/r/c/ops/+/1234",
        );
        assert_eq!(pr.len(), 2);
        assert_eq!(pr[0].url.as_deref(), Some("https://github.com/o/r/pull/42"));
    }

    #[test]
    fn linkify_appends_links() {
        let p = TaskPatterns::default();
        assert_eq!(
            p.linkify("held on T42"),
            "held on T42 (T42 https://phabricator.wikimedia.org/T42)"
        );
        assert_eq!(p.linkify("nothing here"), "nothing here");
        let custom = TaskPatterns::new(vec![
            TaskPattern::new("jira", r"\bREL-([0-9]+)\b", Some("https://jira/{0}")).expect("valid"),
        ]);
        assert_eq!(custom.linkify("REL-7"), "REL-7 (REL-7 https://jira/REL-7)");
        assert!(
            TaskPattern::new("x", "(", None)
                .expect_err("bad")
                .to_string()
                .contains("\"(\"")
        );
    }
}
