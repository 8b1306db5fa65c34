//! Model prices and the cost of one call. API.md §2.
//!
//! The catalog ships inside the binary (`prices.toml` beside this file). A
//! model's price is the entry with the latest `effective_from` not after the
//! call; a dated snapshot (`gpt-4o-2024-08-06`, `claude-3-5-sonnet-20241022`)
//! is priced as its base model unless the catalog lists the snapshot itself.

use crate::money::{div_round, MoneyError, Nanos};
use crate::time::Day;
use jiff::{tz::TimeZone, Timestamp};
use serde::Deserialize;
use std::sync::OnceLock;

/// Prices in nanodollars per million tokens ($2.50/Mtok → 2_500_000_000).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Price {
    pub input: i64,
    pub output: i64,
    /// Missing: the input price.
    pub cached_input: Option<i64>,
    /// Missing: the input price.
    pub cache_write: Option<i64>,
}

impl Price {
    /// `((in − cached − write) × input + cached × cached_input +
    /// write × cache_write + out × output) / 10⁶`, rounded to the nanodollar,
    /// halves away from zero. Callers guarantee cached + write ≤ tokens_in.
    ///
    /// Should they not, the uncached part counts as 0 rather than negative,
    /// and a result beyond `i64` saturates; neither happens for valid events.
    pub fn cost(&self, tokens_in: u64, cached: u64, cache_write: u64, tokens_out: u64) -> Nanos {
        let uncached = tokens_in.saturating_sub(cached).saturating_sub(cache_write);
        let terms = [
            (uncached, self.input),
            (cached, self.cached_input.unwrap_or(self.input)),
            (cache_write, self.cache_write.unwrap_or(self.input)),
            (tokens_out, self.output),
        ];
        // Each product is below 2^64 · 2^63 = 2^127, but four of them can
        // still overflow i128 in theory, hence checked sums.
        let total = terms.iter().try_fold(0i128, |sum, &(tokens, price)| {
            sum.checked_add(i128::from(tokens) * i128::from(price))
        });
        let Some(total) = total else {
            return Nanos(i64::MAX);
        };
        let n = div_round(total, 1_000_000).unwrap_or(0);
        Nanos(n.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
    }

    /// A price from per-million-token USD decimal strings (`"2.50"`), as in
    /// the catalog and in negotiated prices.
    pub fn parse(
        input: &str,
        output: &str,
        cached_input: Option<&str>,
        cache_write: Option<&str>,
    ) -> Result<Price, MoneyError> {
        Ok(Price {
            input: parse_per_mtok(input)?,
            output: parse_per_mtok(output)?,
            cached_input: cached_input.map(parse_per_mtok).transpose()?,
            cache_write: cache_write.map(parse_per_mtok).transpose()?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogEntry {
    pub model: String,
    pub provider: String,
    /// Instant from which this price applies (the catalog gives dates, taken at 00:00 UTC).
    pub effective_from: Timestamp,
    pub price: Price,
}

#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// Sorted by (model, effective_from).
    entries: Vec<CatalogEntry>,
}

/// The TOML layout of prices.toml.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    #[serde(default)]
    model: Vec<RawEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    name: String,
    #[serde(default)]
    aliases: Vec<String>,
    provider: String,
    effective_from: RawDate,
    input: String,
    output: String,
    cached_input: Option<String>,
    cache_write: Option<String>,
}

/// A TOML date (`2025-06-10`) or the same as a string.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawDate {
    Toml(toml::value::Datetime),
    Text(String),
}

impl RawDate {
    fn day(&self) -> Option<Day> {
        match self {
            RawDate::Toml(dt) => match (dt.date, dt.time, dt.offset) {
                (Some(d), None, None) => {
                    Day::from_ymd(i64::from(d.year), i64::from(d.month), i64::from(d.day))
                }
                _ => None,
            },
            RawDate::Text(s) => Day::parse(s).ok(),
        }
    }
}

impl Catalog {
    /// The catalog shipped in the binary. Panics only if the shipped file is
    /// malformed, which a unit test rules out.
    pub fn builtin() -> &'static Catalog {
        static BUILTIN: OnceLock<Catalog> = OnceLock::new();
        BUILTIN.get_or_init(|| {
            Catalog::from_toml(include_str!("prices.toml")).expect("shipped prices.toml is valid")
        })
    }

    /// Parse a catalog TOML document (format: see prices.toml).
    pub fn from_toml(text: &str) -> Result<Catalog, String> {
        let file: CatalogFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut entries = Vec::new();
        for raw in file.model {
            let what = format!("model {:?}", raw.name);
            let valid_name = |s: &str| !s.is_empty() && s.trim() == s;
            if !valid_name(&raw.name) || !raw.aliases.iter().all(|a| valid_name(a)) {
                return Err(format!(
                    "{what}: names must be non-empty, without surrounding spaces"
                ));
            }
            if !valid_name(&raw.provider) {
                return Err(format!("{what}: provider must be non-empty"));
            }
            let day = raw
                .effective_from
                .day()
                .ok_or_else(|| format!("{what}: effective_from must be a date YYYY-MM-DD"))?;
            let price = Price::parse(
                &raw.input,
                &raw.output,
                raw.cached_input.as_deref(),
                raw.cache_write.as_deref(),
            )
            .map_err(|e| format!("{what}: price: {e}"))?;
            for name in std::iter::once(&raw.name).chain(&raw.aliases) {
                entries.push(CatalogEntry {
                    model: name.clone(),
                    provider: raw.provider.clone(),
                    effective_from: day.start_in(&TimeZone::UTC),
                    price,
                });
            }
        }
        entries.sort_by(|a, b| (&a.model, a.effective_from).cmp(&(&b.model, b.effective_from)));
        if let Some(w) = entries
            .windows(2)
            .find(|w| w[0].model == w[1].model && w[0].effective_from == w[1].effective_from)
        {
            return Err(format!(
                "model {:?}: two prices from {}",
                w[0].model, w[0].effective_from
            ));
        }
        Ok(Catalog { entries })
    }

    pub fn entries(&self) -> &[CatalogEntry] {
        &self.entries
    }

    /// All entries of exactly `model`, oldest first.
    fn history(&self, model: &str) -> &[CatalogEntry] {
        let start = self.entries.partition_point(|e| e.model.as_str() < model);
        let len = self.entries[start..].partition_point(|e| e.model == model);
        &self.entries[start..start + len]
    }

    /// The history priced for `model`: its own if listed, else its base's.
    fn history_for(&self, model: &str) -> &[CatalogEntry] {
        match self.history(model) {
            [] => snapshot_base(model).map_or(&[][..], |base| self.history(base)),
            own => own,
        }
    }

    /// The entry in force for `model` at `at`: exact name first, else the
    /// base name of a dated snapshot. Names compare case-sensitively as given.
    ///
    /// A listed name is never priced as its base, even before its own first
    /// entry; a call before a model's first entry is unpriced (`None`).
    pub fn lookup(&self, model: &str, at: Timestamp) -> Option<&CatalogEntry> {
        let history = self.history_for(model);
        let in_force = history.partition_point(|e| e.effective_from <= at);
        in_force.checked_sub(1).map(|i| &history[i])
    }

    /// The provider the catalog gives for `model` (or its base model).
    pub fn provider_of(&self, model: &str) -> Option<&str> {
        self.history_for(model).last().map(|e| e.provider.as_str())
    }
}

/// `gpt-4o-2024-08-06` → `gpt-4o`; `claude-3-5-sonnet-20241022` →
/// `claude-3-5-sonnet`; names without a date suffix → None.
///
/// The suffix must look like a date (month 01–12, day 01–31), so build
/// numbers such as `-12345678` are not taken for one.
pub fn snapshot_base(model: &str) -> Option<&str> {
    let b = model.as_bytes();
    // (suffix length, positions of its dashes)
    for (len, dashes) in [(11, &[0, 5, 8][..]), (9, &[0][..])] {
        let Some(cut) = b.len().checked_sub(len).filter(|&c| c > 0) else {
            continue;
        };
        let tail = &b[cut..];
        let ymd: Vec<u8> = tail
            .iter()
            .enumerate()
            .filter(|(i, _)| !dashes.contains(i))
            .map(|(_, c)| *c)
            .collect();
        let num = |s: &[u8]| s.iter().fold(0u32, |n, c| n * 10 + u32::from(c - b'0'));
        if dashes.iter().all(|&i| tail[i] == b'-')
            && ymd.iter().all(u8::is_ascii_digit)
            && (1..=12).contains(&num(&ymd[4..6]))
            && (1..=31).contains(&num(&ymd[6..8]))
        {
            // The suffix is ASCII, so `cut` is on a char boundary.
            return Some(&model[..cut]);
        }
    }
    None
}

/// Parse a per-million-token price in USD (`"2.50"`) into nanodollars per Mtok.
/// Same grammar as money; at most $1,000,000 per Mtok.
pub fn parse_per_mtok(text: &str) -> Result<i64, MoneyError> {
    Nanos::parse_usd(text, 1_000_000).map(|n| n.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::format_usd;
    use crate::time::parse_timestamp;

    fn at(s: &str) -> Timestamp {
        parse_timestamp(s).unwrap()
    }
    fn now() -> Timestamp {
        at("2026-11-28T12:00:00Z")
    }
    fn mtok(s: &str) -> i64 {
        parse_per_mtok(s).unwrap()
    }
    fn price_at(model: &str, when: &str) -> Option<Price> {
        Catalog::builtin().lookup(model, at(when)).map(|e| e.price)
    }

    const REQUIRED: &[(&str, &str)] = &[
        ("gpt-4o", "openai"),
        ("gpt-4o-mini", "openai"),
        ("gpt-4.1", "openai"),
        ("gpt-4.1-mini", "openai"),
        ("gpt-4.1-nano", "openai"),
        ("o1", "openai"),
        ("o3", "openai"),
        ("o3-mini", "openai"),
        ("o4-mini", "openai"),
        ("gpt-5", "openai"),
        ("gpt-5-mini", "openai"),
        ("gpt-5-nano", "openai"),
        ("gpt-4-turbo", "openai"),
        ("gpt-4", "openai"),
        ("gpt-3.5-turbo", "openai"),
        ("claude-opus-4-5", "anthropic"),
        ("claude-opus-4-1", "anthropic"),
        ("claude-opus-4", "anthropic"),
        ("claude-sonnet-4-5", "anthropic"),
        ("claude-sonnet-4", "anthropic"),
        ("claude-3-7-sonnet", "anthropic"),
        ("claude-3-5-sonnet", "anthropic"),
        ("claude-3-5-haiku", "anthropic"),
        ("claude-haiku-4-5", "anthropic"),
        ("claude-3-opus", "anthropic"),
        ("claude-3-haiku", "anthropic"),
        ("claude-3.5-sonnet", "anthropic"),
        ("claude-3.5-haiku", "anthropic"),
        ("claude-3.7-sonnet", "anthropic"),
        ("gemini-2.5-pro", "google"),
        ("gemini-2.5-flash", "google"),
        ("gemini-2.5-flash-lite", "google"),
        ("gemini-2.0-flash", "google"),
        ("gemini-1.5-pro", "google"),
        ("gemini-1.5-flash", "google"),
    ];

    #[test]
    fn builtin_parses_and_is_sane() {
        let catalog = Catalog::builtin();
        assert!(catalog.entries().len() >= REQUIRED.len());
        assert!(std::ptr::eq(catalog, Catalog::builtin()), "parsed once");
        for e in catalog.entries() {
            let p = e.price;
            assert!(p.input > 0 && p.output > 0, "{}", e.model);
            // Reading from a cache is never dearer than plain input.
            assert!(
                p.cached_input.iter().all(|&c| 0 < c && c <= p.input),
                "{}",
                e.model
            );
            assert!(p.cache_write.iter().all(|&w| w >= p.input), "{}", e.model);
            assert!(["openai", "anthropic", "google"].contains(&e.provider.as_str()));
            assert!(e.effective_from >= at("2023-01-01T00:00:00Z"));
        }
        let sorted = catalog
            .entries()
            .windows(2)
            .all(|w| (&w[0].model, w[0].effective_from) < (&w[1].model, w[1].effective_from));
        assert!(sorted);
    }

    #[test]
    fn every_required_model_is_priced_now() {
        let catalog = Catalog::builtin();
        for &(model, provider) in REQUIRED {
            let entry = catalog
                .lookup(model, now())
                .unwrap_or_else(|| panic!("{model}"));
            assert_eq!(entry.model, model);
            assert_eq!(entry.provider, provider);
            assert_eq!(catalog.provider_of(model), Some(provider));
        }
    }

    #[test]
    fn known_list_prices() {
        let p = |i, o, c: Option<&str>, w: Option<&str>| Price::parse(i, o, c, w).unwrap();
        let cases = [
            ("gpt-4o", p("2.50", "10.00", Some("1.25"), None)),
            ("gpt-4o-mini", p("0.15", "0.60", Some("0.075"), None)),
            ("o3", p("2", "8", Some("0.5"), None)),
            (
                "claude-3-5-sonnet",
                p("3", "15", Some("0.30"), Some("3.75")),
            ),
            (
                "claude-3.5-sonnet",
                p("3", "15", Some("0.30"), Some("3.75")),
            ),
            ("claude-opus-4-5", p("5", "25", Some("0.50"), Some("6.25"))),
            ("gemini-2.5-pro", p("1.25", "10", Some("0.31"), None)),
        ];
        for (model, price) in cases {
            assert_eq!(
                price_at(model, "2026-11-28T00:00:00Z"),
                Some(price),
                "{model}"
            );
        }
    }

    #[test]
    fn snapshots_map_to_their_base() {
        let catalog = Catalog::builtin();
        let when = at("2025-06-01T00:00:00Z");
        assert_eq!(
            catalog.lookup("gpt-4o-2024-08-06", when).map(|e| e.price),
            catalog.lookup("gpt-4o", when).map(|e| e.price)
        );
        let base_of = |model: &str| catalog.lookup(model, when).map(|e| e.model.as_str());
        assert_eq!(base_of("gpt-4o-2024-11-20"), Some("gpt-4o"));
        assert_eq!(
            base_of("claude-3-5-sonnet-20241022"),
            Some("claude-3-5-sonnet")
        );
        assert_eq!(
            base_of("claude-3-5-sonnet-20240620"),
            Some("claude-3-5-sonnet")
        );
        assert_eq!(base_of("claude-sonnet-4-20250514"), Some("claude-sonnet-4"));
        assert_eq!(base_of("gpt-4.1-2025-04-14"), Some("gpt-4.1"));
        assert_eq!(base_of("o3-2025-04-16"), Some("o3"));
        // A listed snapshot keeps its own price: the first gpt-4o stayed $5/$15.
        assert_eq!(base_of("gpt-4o-2024-05-13"), Some("gpt-4o-2024-05-13"));
        assert_eq!(
            price_at("gpt-4o-2024-05-13", "2026-01-01T00:00:00Z")
                .unwrap()
                .input,
            mtok("5")
        );
        assert_eq!(
            catalog.provider_of("claude-3-5-haiku-20241022"),
            Some("anthropic")
        );
        // Unknown, malformed or differently cased names are unpriced.
        for model in [
            "llama-3-70b",
            "gpt-4o-2024-13-01",
            "GPT-4o",
            "gpt-4o ",
            "",
            "-20241022",
        ] {
            assert_eq!(catalog.lookup(model, when), None, "{model:?}");
            assert_eq!(catalog.provider_of(model), None, "{model:?}");
        }
    }

    #[test]
    fn snapshot_suffixes() {
        assert_eq!(snapshot_base("gpt-4o-2024-08-06"), Some("gpt-4o"));
        assert_eq!(
            snapshot_base("claude-3-5-sonnet-20241022"),
            Some("claude-3-5-sonnet")
        );
        assert_eq!(snapshot_base("x-20241022"), Some("x"));
        assert_eq!(snapshot_base("модель-20240101"), Some("модель"));
        assert_eq!(
            snapshot_base("a-2024-08-06-2024-08-07"),
            Some("a-2024-08-06")
        );
        for none in [
            "gpt-4o",
            "2024-08-06",
            "-2024-08-06",
            "20241022",
            "-20241022",
            "gpt-4-0613",
            "claude-3-5-sonnet-20241322",
            "claude-3-5-sonnet-20241000",
            "m-2024-08-32",
            "m-2024_08_06",
            "m-2024-0806",
            "m-202410221",
            "gpt-4o-latest",
            "m-2024-08-0x",
        ] {
            assert_eq!(snapshot_base(none), None, "{none}");
        }
    }

    #[test]
    fn effective_dates_pick_the_entry_in_force() {
        // o3 was cut from $10/$40 to $2/$8 on 2025-06-10.
        assert_eq!(price_at("o3", "2025-04-15T23:59:59Z"), None);
        assert_eq!(
            price_at("o3", "2025-04-16T00:00:00Z").unwrap().input,
            mtok("10")
        );
        assert_eq!(
            price_at("o3", "2025-06-09T23:59:59.999999999Z")
                .unwrap()
                .output,
            mtok("40")
        );
        assert_eq!(
            price_at("o3", "2025-06-10T00:00:00Z").unwrap().output,
            mtok("8")
        );
        assert_eq!(
            price_at("o3-2025-04-16", "2025-05-01T00:00:00Z")
                .unwrap()
                .input,
            mtok("10")
        );
        // Offsets are honoured: 01:00+02:00 on the 10th is still the 9th in UTC.
        assert_eq!(
            price_at("o3", "2025-06-10T01:00:00+02:00").unwrap().input,
            mtok("10")
        );
        assert_eq!(
            price_at("gpt-4o", "2024-09-01T00:00:00Z").unwrap().input,
            mtok("5")
        );
        assert_eq!(
            price_at("gpt-4o", "2024-10-02T00:00:00Z").unwrap().input,
            mtok("2.5")
        );
        assert_eq!(
            price_at("gpt-3.5-turbo", "2023-07-01T00:00:00Z")
                .unwrap()
                .input,
            mtok("1.5")
        );
        assert_eq!(
            price_at("gpt-3.5-turbo", "2025-01-01T00:00:00Z")
                .unwrap()
                .input,
            mtok("0.5")
        );
        // Aliases share the history of their model.
        assert_eq!(
            price_at("gemini-1.5-flash-002", "2024-09-30T00:00:00Z")
                .unwrap()
                .input,
            mtok("0.075")
        );
        assert_eq!(
            price_at("gemini-1.5-pro-latest", "2024-09-30T00:00:00Z")
                .unwrap()
                .input,
            mtok("3.5")
        );
    }

    #[test]
    fn cost_by_hand() {
        // claude-3-5-sonnet: $3 in, $15 out, $0.30 cache read, $3.75 cache write.
        // 10,000 in = 2,000 uncached + 6,000 cached + 2,000 written; 500 out:
        // 2000·3 + 6000·0.30 + 2000·3.75 + 500·15 = 22.8 $·tok/Mtok = $0.0228.
        let p = price_at("claude-3-5-sonnet-20241022", "2025-01-01T00:00:00Z").unwrap();
        assert_eq!(
            format_usd(p.cost(10_000, 6_000, 2_000, 500).0.into()),
            "0.022800000"
        );
        assert_eq!(p.cost(0, 0, 0, 0), Nanos(0));
        // gpt-4o: 1M in of which 400k cached, 100k out = 1.5 + 0.5 + 1.0.
        let p = price_at("gpt-4o", "2025-01-01T00:00:00Z").unwrap();
        assert_eq!(p.cost(1_000_000, 400_000, 0, 100_000), Nanos(3_000_000_000));
        // No cached price: cached tokens cost the input price.
        let p = price_at("gpt-4o-2024-05-13", "2025-01-01T00:00:00Z").unwrap();
        assert_eq!(p.cost(1_000, 1_000, 0, 0), p.cost(1_000, 0, 0, 0));
        assert_eq!(p.cost(1_000, 0, 1_000, 0), Nanos(5_000_000)); // $5/Mtok
    }

    #[test]
    fn cost_rounds_half_nanodollars_away_from_zero() {
        // gemini-1.5-flash cache reads: $0.01875/Mtok = 18.75 nanodollars a token.
        let p = price_at("gemini-1.5-flash", "2025-01-01T00:00:00Z").unwrap();
        assert_eq!(p.cost(1, 1, 0, 0), Nanos(19)); // 18.75
        assert_eq!(p.cost(2, 2, 0, 0), Nanos(38)); // 37.5, a half
        assert_eq!(p.cost(4, 4, 0, 0), Nanos(75)); // exact
        let tiny = Price {
            input: 500_000,
            output: 1_499_999,
            cached_input: None,
            cache_write: None,
        };
        assert_eq!(tiny.cost(1, 0, 0, 0), Nanos(1)); // 0.5
        assert_eq!(tiny.cost(3, 0, 0, 0), Nanos(2)); // 1.5
        assert_eq!(tiny.cost(0, 0, 0, 1), Nanos(1)); // 1.499999
    }

    #[test]
    fn cost_never_overflows() {
        let max = Price {
            input: i64::MAX,
            output: i64::MAX,
            cached_input: None,
            cache_write: None,
        };
        assert_eq!(max.cost(u64::MAX, 0, 0, u64::MAX), Nanos(i64::MAX));
        // Inconsistent counts price the uncached part as zero.
        let p = Price {
            input: 1_000_000,
            output: 0,
            cached_input: Some(0),
            cache_write: None,
        };
        assert_eq!(p.cost(10, 20, 0, 0), Nanos(0));
        // The largest valid event: 10⁹ tokens each way at $600/Mtok.
        let o1_pro = price_at("o1-pro", "2026-01-01T00:00:00Z").unwrap();
        assert_eq!(
            o1_pro.cost(1_000_000_000, 0, 0, 1_000_000_000),
            Nanos(750_000 * 1_000_000_000)
        );
    }

    #[test]
    fn per_mtok_prices() {
        assert_eq!(parse_per_mtok("2.50"), Ok(2_500_000_000));
        assert_eq!(parse_per_mtok("0.01875"), Ok(18_750_000));
        assert_eq!(parse_per_mtok("0"), Ok(0));
        assert_eq!(parse_per_mtok("1.0000000001"), Err(MoneyError::TooPrecise));
        assert_eq!(parse_per_mtok("-1"), Err(MoneyError::Negative));
        assert_eq!(parse_per_mtok("2,50"), Err(MoneyError::NotDecimal));
        assert_eq!(
            parse_per_mtok("1000001"),
            Err(MoneyError::TooLarge("1000000"))
        );
    }

    #[test]
    fn catalog_toml_format() {
        let text = r#"
            [[model]]
            name = "m"
            aliases = ["m.1"]
            provider = "p"
            effective_from = "2025-01-01"
            input = "1"
            output = "2"

            [[model]]
            name = "m"
            provider = "p"
            effective_from = 2025-02-01
            input = "0.5"
            output = "1"
            cached_input = "0.05"
            cache_write = "0.625"
        "#;
        let c = Catalog::from_toml(text).unwrap();
        assert_eq!(c.entries().len(), 3);
        assert_eq!(
            c.lookup("m", at("2025-01-31T23:59:59Z"))
                .unwrap()
                .price
                .input,
            mtok("1")
        );
        assert_eq!(
            c.lookup("m", at("2025-02-01T00:00:00Z"))
                .unwrap()
                .price
                .cache_write,
            Some(mtok("0.625"))
        );
        assert_eq!(
            c.lookup("m.1", at("2025-03-01T00:00:00Z"))
                .unwrap()
                .price
                .input,
            mtok("1")
        );
        assert_eq!(
            c.lookup("m-20250301", at("2025-03-01T00:00:00Z"))
                .unwrap()
                .model,
            "m"
        );
        assert!(Catalog::from_toml("").unwrap().entries().is_empty());
    }

    #[test]
    fn catalog_toml_errors() {
        let entry = |extra: &str| {
            format!("[[model]]\nname = \"m\"\nprovider = \"p\"\neffective_from = 2025-01-01\ninput = \"1\"\noutput = \"2\"\n{extra}")
        };
        let bad = [
            entry("colour = \"red\""),
            entry("cached_input = 0.5"),
            entry("cache_write = \"0.0000000001\""),
            entry("aliases = [\"\"]"),
            entry("[[model]]\nname = \"m\"\nprovider = \"p\"\neffective_from = 2025-01-01\ninput = \"3\"\noutput = \"4\""),
            entry("aliases = [\"m\"]"),
            "[[model]]\nname = \"m\"\nprovider = \"p\"\neffective_from = 2025-01-01T00:00:00Z\ninput = \"1\"\noutput = \"2\"".into(),
            "[[model]]\nname = \"m\"\nprovider = \"p\"\neffective_from = \"2025-02-30\"\ninput = \"1\"\noutput = \"2\"".into(),
            "[[model]]\nname = \"m\"\nprovider = \"p\"\neffective_from = 2025-01-01\ninput = 1\noutput = \"2\"".into(),
            "[[model]]\nname = \"m\"\nprovider = \"p\"\neffective_from = 2025-01-01\ninput = \"1\"".into(),
            "[[model]]\nname = \" m\"\nprovider = \"p\"\neffective_from = 2025-01-01\ninput = \"1\"\noutput = \"2\"".into(),
            "[[model]]\nname = \"m\"\nprovider = \"\"\neffective_from = 2025-01-01\ninput = \"1\"\noutput = \"2\"".into(),
            "not toml at all".into(),
        ];
        for text in bad {
            assert!(Catalog::from_toml(&text).is_err(), "{text}");
        }
    }
}
