//! A page's query: the period (`from`, `to`, `period`, passed to the API
//! unchanged so it validates them), a table sort, and which table to download.

use std::collections::HashMap;

/// The page's own parameters, taken out of its query string.
#[derive(Debug, Clone, Default)]
pub struct PageQuery {
    /// `from`, `to`, `period` exactly as given.
    pub period: Vec<(String, String)>,
    pub sort: Option<String>,
    pub order: Option<String>,
    /// `csv=NAME`: download that table of the page instead of the page.
    pub csv: Option<String>,
}

impl PageQuery {
    pub fn parse(raw: &HashMap<String, String>) -> PageQuery {
        let mut period: Vec<(String, String)> = ["period", "from", "to"]
            .iter()
            .filter_map(|k| Some(((*k).to_owned(), raw.get(*k)?.clone())))
            .filter(|(_, v)| !v.is_empty())
            .collect();
        // The picker's custom range wins over its preset (both is a 400 in the API).
        if period.iter().any(|(k, _)| k != "period") {
            period.retain(|(k, _)| k != "period");
        }
        PageQuery {
            period,
            sort: raw.get("sort").cloned(),
            order: raw.get("order").cloned(),
            csv: raw.get("csv").cloned(),
        }
    }

    /// The API parameters for the period, plus `extra`.
    pub fn api(&self, extra: &[(&str, &str)]) -> HashMap<String, String> {
        self.period
            .iter()
            .cloned()
            .chain(
                extra
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
            )
            .collect()
    }

    /// A query string (with its `?`) carrying the period and `extra`.
    pub fn link(&self, extra: &[(&str, &str)]) -> String {
        let pairs: Vec<(&str, &str)> = self
            .period
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain(extra.iter().copied())
            .collect();
        match serde_urlencoded::to_string(&pairs) {
            Ok(q) if !q.is_empty() => format!("?{q}"),
            _ => String::new(),
        }
    }

    /// The preset shown as chosen in the picker.
    pub fn preset(&self) -> &str {
        self.period
            .iter()
            .find(|(k, _)| k == "period")
            .map(|(_, v)| v.as_str())
            .unwrap_or(if self.period.is_empty() {
                "this_month"
            } else {
                ""
            })
    }
}

/// An id as one path segment: everything but unreserved characters percent-encoded (API.md §1).
pub fn seg(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_range_wins_and_links_keep_the_period() {
        let raw: HashMap<String, String> = [
            ("period", "last_7d"),
            ("from", "2026-11-01"),
            ("to", "2026-11-08"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let q = PageQuery::parse(&raw);
        assert_eq!(q.api(&[]).get("period"), None);
        assert_eq!(q.link(&[]), "?from=2026-11-01&to=2026-11-08");
        assert_eq!(q.preset(), "");
        assert_eq!(PageQuery::default().preset(), "this_month");
    }

    #[test]
    fn ids_are_one_segment() {
        assert_eq!(seg("a/b c"), "a%2Fb%20c");
        assert_eq!(seg("alice@x.com"), "alice%40x.com");
    }
}
