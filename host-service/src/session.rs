//! What the broker's persistent session may still hold for our client id.
//!
//! A persistent session keeps its subscriptions across our restarts. When `TOPIC` or
//! `--share-group` change under the same `--client-id`, the broker goes on delivering
//! the old filter's messages besides the new one's. The service therefore remembers
//! every filter it subscribed in `FILE.subscriptions` (next to the delivery journal, one
//! JSON string per line) and, on a connection where the broker reports a saved session,
//! sends UNSUBSCRIBE for the remembered filters that are no longer configured. Messages
//! that still arrive on a topic the configured filter does not match (queued before the
//! UNSUBSCRIBE, or from a session this file never saw) are not written to the CSV: the
//! writer keeps them in the rejects file as `off-topic` and acknowledges them.

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};

use crate::sink::SinkError;

/// True if `topic` (of a PUBLISH) matches the topic `filter` (MQTT 3.1.1 §4.7: `+` one
/// level, `#` the rest including the parent level; a wildcard at the first level does
/// not match a topic starting with `$`).
pub fn topic_matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut levels = topic.split('/');
    for f in filter.split('/') {
        if f == "#" {
            return true;
        }
        match levels.next() {
            Some(t) if f == "+" || f == t => {}
            _ => return false,
        }
    }
    levels.next().is_none()
}

/// The topic filter of a subscription: `f` without its `$share/GROUP/`, or None if that
/// part is malformed (an empty group, or one with a wildcard).
pub fn filter_of(f: &str) -> Option<&str> {
    match f.strip_prefix("$share/") {
        Some(rest) => match rest.split_once('/') {
            Some((g, f)) if !g.is_empty() && !g.contains(['+', '#']) => Some(f),
            _ => None,
        },
        None => Some(f),
    }
}

/// True if `f` is a filter a broker accepts: a valid MQTT filter, optionally after
/// `$share/GROUP/`.
pub fn valid_subscription(f: &str) -> bool {
    filter_of(f).is_some_and(|f| !f.contains('\0') && rumqttc::valid_filter(f))
}

/// True if a message's `topic` can be unsubscribed as a filter of its own: a valid topic
/// name (no wildcards), so the UNSUBSCRIBE is one the broker accepts.
pub fn unsubscribable_topic(topic: &str) -> bool {
    !topic.is_empty() && !topic.contains(['+', '#', '\0'])
}

/// The filters this service has subscribed to under its client id (`FILE.subscriptions`).
#[derive(Debug)]
pub struct SubscribedFilters {
    path: PathBuf,
    filters: BTreeSet<String>,
}

impl SubscribedFilters {
    /// Most filters remembered (a file edited by hand can't make us send thousands).
    pub const MAX: usize = 64;

    /// Reads the file (a missing file means none; an unreadable one is an error).
    pub fn open(path: &Path) -> Result<SubscribedFilters, SinkError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
            Err(source) => {
                return Err(SinkError::Open {
                    path: path.to_owned(),
                    source,
                })
            }
        };
        // A line that does not parse (torn by a crash) is dropped: an off-topic message
        // still gets its topic unsubscribed when it arrives.
        let filters = text
            .lines()
            .filter_map(|l| serde_json::from_str::<String>(l).ok())
            // An invalid filter (a file edited by hand) would make the broker drop the
            // connection on every UNSUBSCRIBE, forever.
            .filter(|f| valid_subscription(f))
            .take(Self::MAX)
            .collect();
        Ok(SubscribedFilters {
            path: path.to_owned(),
            filters,
        })
    }

    /// The remembered filters other than `current`.
    pub fn stale(&self, current: &str) -> Vec<String> {
        self.filters
            .iter()
            .filter(|f| f.as_str() != current)
            .cloned()
            .collect()
    }

    /// Replaces the remembered set with `filters` and writes the file.
    pub fn set(&mut self, filters: impl IntoIterator<Item = String>) -> io::Result<()> {
        let new: BTreeSet<String> = filters.into_iter().take(Self::MAX).collect();
        if new == self.filters && self.path.exists() {
            return Ok(());
        }
        self.filters = new;
        let mut text = String::new();
        for f in &self.filters {
            text.push_str(&serde_json::to_string(f).unwrap_or_default());
            text.push('\n');
        }
        std::fs::write(&self.path, text)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_match_as_mqtt_says() {
        let yes = [
            ("sensor-data", "sensor-data"),
            ("a/+", "a/b"),
            ("a/+/c", "a/b/c"),
            ("a/#", "a"),
            ("a/#", "a/b/c"),
            ("#", "a/b"),
            ("+/+", "/x"),
            ("$SYS/#", "$SYS/broker"),
        ];
        let no = [
            ("sensor-data", "old/t"),
            ("a/+", "a/b/c"),
            ("a/+", "a"),
            ("a/b", "a/b/c"),
            ("a/b/c", "a/b"),
            ("#", "$SYS/broker"),
            ("+/broker", "$SYS/broker"),
            ("a", "A"),
        ];
        for (f, t) in yes {
            assert!(topic_matches(f, t), "{f} should match {t}");
        }
        for (f, t) in no {
            assert!(!topic_matches(f, t), "{f} should not match {t}");
        }
    }

    #[test]
    fn remembered_filters_round_trip_any_text() {
        let dir = std::env::temp_dir().join(format!("hs-session-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.csv.subscriptions");
        let _ = std::fs::remove_file(&path);
        let mut s = SubscribedFilters::open(&path).unwrap();
        assert!(s.stale("x").is_empty());
        assert!(!valid_subscription("a/#/b") && !valid_subscription("$share//t"));
        assert!(valid_subscription("$share/g/a/+") && valid_subscription("a b"));
        assert!(unsubscribable_topic("old/t") && !unsubscribable_topic("a+"));
        let odd = "a b\n\"c\"/#".to_owned();
        s.set(["$share/g/x".to_owned(), odd.clone(), "x".to_owned()])
            .unwrap();
        let s = SubscribedFilters::open(&path).unwrap();
        assert_eq!(s.stale("x"), vec!["$share/g/x".to_owned(), odd.clone()]);
        // Invalid filters written by hand are dropped, not sent.
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("\"a/#/b\"\nnot json\n");
        std::fs::write(&path, text).unwrap();
        let s = SubscribedFilters::open(&path).unwrap();
        assert_eq!(s.stale("x"), vec!["$share/g/x".to_owned(), odd]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
