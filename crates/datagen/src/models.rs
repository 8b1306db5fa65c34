//! The models events are drawn from, with a provider, a popularity and the
//! list prices (USD per million tokens) used for the costs some clients send.

#[derive(Debug, Clone, Copy)]
pub struct Model {
    pub name: &'static str,
    pub provider: &'static str,
    /// Relative popularity among the models of its provider.
    pub weight: f64,
    pub input: f64,
    pub output: f64,
    pub cached: f64,
    pub write: f64,
}

const fn m(
    name: &'static str,
    provider: &'static str,
    weight: f64,
    input: f64,
    output: f64,
    cached: f64,
) -> Model {
    // Anthropic bills cache writes at 1.25 × input; the others at the input price.
    let write = if const_eq(provider, "anthropic") {
        input * 1.25
    } else {
        input
    };
    Model {
        name,
        provider,
        weight,
        input,
        output,
        cached,
        write,
    }
}

const fn const_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Spec::models takes the first n of these.
pub const MODELS: &[Model] = &[
    m("gpt-4o", "openai", 1.0, 2.5, 10.0, 1.25),
    m("gpt-4o-mini", "openai", 0.9, 0.15, 0.6, 0.075),
    m("gpt-4.1", "openai", 0.8, 2.0, 8.0, 0.5),
    m("gpt-4.1-mini", "openai", 0.6, 0.4, 1.6, 0.1),
    m("gpt-4.1-nano", "openai", 0.2, 0.1, 0.4, 0.025),
    m("o3", "openai", 0.3, 2.0, 8.0, 0.5),
    m("o4-mini", "openai", 0.35, 1.1, 4.4, 0.275),
    m("gpt-5", "openai", 0.7, 1.25, 10.0, 0.125),
    m("gpt-5-mini", "openai", 0.4, 0.25, 2.0, 0.025),
    m("claude-sonnet-4-5", "anthropic", 1.0, 3.0, 15.0, 0.3),
    m(
        "claude-3-5-sonnet-20241022",
        "anthropic",
        0.5,
        3.0,
        15.0,
        0.3,
    ),
    m("claude-3-5-haiku", "anthropic", 0.3, 0.8, 4.0, 0.08),
    m("claude-opus-4-1", "anthropic", 0.15, 15.0, 75.0, 1.5),
    m("claude-haiku-4-5", "anthropic", 0.35, 1.0, 5.0, 0.1),
    m("gemini-2.5-pro", "google", 1.0, 1.25, 10.0, 0.31),
    m("gemini-2.5-flash", "google", 0.9, 0.3, 2.5, 0.075),
    m("gemini-2.0-flash", "google", 0.4, 0.1, 0.4, 0.025),
    m("gpt-4o-2024-08-06", "openai", 0.15, 2.5, 10.0, 1.25),
    m("claude-3-7-sonnet", "anthropic", 0.3, 3.0, 15.0, 0.3),
    m("gemini-2.5-flash-lite", "google", 0.3, 0.1, 0.4, 0.025),
    m("gpt-4.1-2025-04-14", "openai", 0.1, 2.0, 8.0, 0.5),
    m("gpt-4o-mini-2024-07-18", "openai", 0.1, 0.15, 0.6, 0.075),
    m(
        "claude-sonnet-4-5-20250929",
        "anthropic",
        0.2,
        3.0,
        15.0,
        0.3,
    ),
    m(
        "claude-opus-4-1-20250805",
        "anthropic",
        0.05,
        15.0,
        75.0,
        1.5,
    ),
    m(
        "claude-3-5-haiku-20241022",
        "anthropic",
        0.1,
        0.8,
        4.0,
        0.08,
    ),
    m("o3-2025-04-16", "openai", 0.05, 2.0, 8.0, 0.5),
    m("o4-mini-2025-04-16", "openai", 0.05, 1.1, 4.4, 0.275),
    m("gpt-5-2025-08-07", "openai", 0.1, 1.25, 10.0, 0.125),
    m("gpt-5-mini-2025-08-07", "openai", 0.05, 0.25, 2.0, 0.025),
    m("gpt-5-nano", "openai", 0.1, 0.05, 0.4, 0.005),
    m(
        "claude-haiku-4-5-20251001",
        "anthropic",
        0.05,
        1.0,
        5.0,
        0.1,
    ),
    m("claude-sonnet-4", "anthropic", 0.2, 3.0, 15.0, 0.3),
    m("claude-opus-4", "anthropic", 0.05, 15.0, 75.0, 1.5),
    m("gemini-1.5-pro", "google", 0.1, 1.25, 5.0, 0.3125),
    m("gemini-1.5-flash", "google", 0.1, 0.075, 0.3, 0.01875),
    m("gpt-4-turbo", "openai", 0.05, 10.0, 30.0, 10.0),
    m("gpt-3.5-turbo", "openai", 0.05, 0.5, 1.5, 0.5),
    m(
        "ft:gpt-4o-mini-2024-07-18:acme::b7x2k9",
        "openai",
        0.05,
        0.3,
        1.2,
        0.15,
    ),
    m(
        "ft:gpt-4.1-mini-2025-04-14:research::q81zd3",
        "openai",
        0.03,
        0.8,
        3.2,
        0.2,
    ),
    m("claude-3-opus-20240229", "anthropic", 0.02, 15.0, 75.0, 1.5),
];

/// Models no catalog lists: their events are unpriced unless they send a cost.
/// The fine-tune runs on an OpenAI key; the local model has no provider key.
pub const FINETUNE: Model = m("acme-finetune-v2", "openai", 0.0, 0.3, 1.2, 0.15);
pub const LOCAL: Model = m("local-llama-3-70b", "self-hosted", 0.0, 0.0, 0.0, 0.0);

/// The event's model index beyond MODELS.
pub const FINETUNE_IDX: u16 = MODELS.len() as u16;
pub const LOCAL_IDX: u16 = MODELS.len() as u16 + 1;

pub fn model(idx: u16) -> &'static Model {
    match idx {
        FINETUNE_IDX => &FINETUNE,
        LOCAL_IDX => &LOCAL,
        i => &MODELS[i as usize],
    }
}

/// List-price cost in nanodollars, rounded half away from zero.
pub fn list_cost_nanos(m: &Model, tokens_in: u32, cached: u32, write: u32, out: u32) -> u64 {
    let plain = f64::from(tokens_in - cached - write);
    let usd_per_mtok = plain * m.input
        + f64::from(cached) * m.cached
        + f64::from(write) * m.write
        + f64::from(out) * m.output;
    // USD/Mtok × tokens = µUSD; × 1000 = nanodollars.
    (usd_per_mtok * 1000.0).round() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forty_distinct_models_with_known_providers() {
        assert_eq!(MODELS.len(), 40);
        let mut names: Vec<_> = MODELS.iter().map(|m| m.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 40);
        for m in MODELS {
            assert!(
                ["openai", "anthropic", "google"].contains(&m.provider),
                "{}",
                m.name
            );
        }
        assert_eq!(MODELS[12].write, 18.75);
    }

    #[test]
    fn list_cost() {
        // 1M input tokens of gpt-4o = $2.50.
        assert_eq!(
            list_cost_nanos(&MODELS[0], 1_000_000, 0, 0, 0),
            2_500_000_000
        );
        assert_eq!(list_cost_nanos(&MODELS[0], 1000, 1000, 0, 100), 2_250_000);
    }
}
