//! Settings come from, strongest first: command-line flags, `SPENDLENS_…`
//! environment variables, an optional TOML file (`--config FILE` or
//! `SPENDLENS_CONFIG`), and the built-in defaults.
//!
//! The file is applied by filling in the environment variables it names that
//! are not already set, before the command line is parsed; clap's own
//! flag > environment > default order then gives the rest. So one mechanism
//! decides every setting, and `spendlens config` can say where each came from.

use anyhow::{bail, Context};
use clap::parser::ValueSource;
use std::collections::BTreeSet;

/// One setting: its key in the file, its environment variable, its clap
/// argument id (for commands that have it as a flag), and whether it is secret.
pub struct Setting {
    pub key: &'static str,
    pub env: &'static str,
    pub arg: Option<&'static str>,
    pub secret: bool,
    pub help: &'static str,
}

pub const SETTINGS: &[Setting] = &[
    Setting {
        key: "db",
        env: "SPENDLENS_DB",
        arg: Some("db"),
        secret: false,
        help: "the store: sqlite://FILE or postgres://…",
    },
    Setting {
        key: "durability",
        env: "SPENDLENS_DURABILITY",
        arg: Some("durability"),
        secret: false,
        help: "process (survives kill -9) or full (survives power loss)",
    },
    Setting {
        key: "listen",
        env: "SPENDLENS_LISTEN",
        arg: Some("listen"),
        secret: false,
        help: "address the server listens on",
    },
    Setting {
        key: "queue_capacity",
        env: "SPENDLENS_QUEUE_CAPACITY",
        arg: Some("queue_capacity"),
        secret: false,
        help: "events that may wait to be written before ingest answers 429",
    },
    Setting {
        key: "allow_private_webhooks",
        env: "SPENDLENS_ALLOW_PRIVATE_WEBHOOKS",
        arg: Some("allow_private_webhooks"),
        secret: false,
        help: "let webhooks call private, loopback and link-local addresses",
    },
    Setting {
        key: "retention_every_mins",
        env: "SPENDLENS_RETENTION_EVERY_MINS",
        arg: Some("retention_every_mins"),
        secret: false,
        help: "minutes between background retention rounds (0: none)",
    },
    Setting {
        key: "admin_token",
        env: "SPENDLENS_ADMIN_TOKEN",
        arg: None,
        secret: true,
        help: "bootstrap platform-admin token",
    },
    Setting {
        key: "log",
        env: "SPENDLENS_LOG",
        arg: None,
        secret: false,
        help: "log filter, e.g. info or spendlens=debug",
    },
    Setting {
        key: "log_json",
        env: "SPENDLENS_LOG_JSON",
        arg: Some("log_json"),
        secret: false,
        help: "log JSON lines instead of text",
    },
];

/// What the configuration file filled in.
#[derive(Debug, Default)]
pub struct FileApplied {
    pub path: Option<String>,
    /// Keys whose value came from the file (the environment did not set them).
    pub keys: BTreeSet<&'static str>,
}

/// The `--config` path from the raw arguments (before clap, which needs the
/// file's values already in place), else `SPENDLENS_CONFIG`.
fn config_path(args: &[String]) -> Option<String> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--config" {
            return it.next().cloned();
        }
        if let Some(p) = a.strip_prefix("--config=") {
            return Some(p.to_owned());
        }
    }
    std::env::var("SPENDLENS_CONFIG")
        .ok()
        .filter(|p| !p.is_empty())
}

/// Read the configuration file, if one is named, into the environment.
/// Must run before any thread starts (it sets environment variables).
pub fn apply_file(args: &[String]) -> anyhow::Result<FileApplied> {
    let Some(path) = config_path(args) else {
        return Ok(FileApplied::default());
    };
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("cannot read config {path}"))?;
    let table: toml::Table = text
        .parse()
        .with_context(|| format!("config {path} is not valid TOML"))?;
    let mut applied = FileApplied {
        path: Some(path.clone()),
        keys: BTreeSet::new(),
    };
    for (key, value) in &table {
        let Some(setting) = SETTINGS.iter().find(|s| s.key == key) else {
            let known: Vec<&str> = SETTINGS.iter().map(|s| s.key).collect();
            bail!(
                "config {path}: unknown setting `{key}` (known: {})",
                known.join(", ")
            );
        };
        let value = match value {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => bail!(
                "config {path}: `{key}` must be a string, integer or boolean, not {}",
                other.type_str()
            ),
        };
        if std::env::var_os(setting.env).is_none() {
            std::env::set_var(setting.env, value);
            applied.keys.insert(setting.key);
        }
    }
    Ok(applied)
}

/// `spendlens config`: the effective settings of `spendlens serve` with the
/// same flags, where each came from, secrets hidden.
pub fn print(matches: &clap::ArgMatches, file: &FileApplied) {
    match &file.path {
        Some(p) => println!("config file: {p}"),
        None => println!("config file: none (--config FILE or SPENDLENS_CONFIG)"),
    }
    println!();
    println!("{:<16} {:<34} {:<9} variable", "setting", "value", "source");
    for s in SETTINGS {
        let from_flag = s
            .arg
            .and_then(|id| matches.try_get_raw(id).ok().flatten().map(|_| id))
            .and_then(|id| matches.value_source(id));
        let env_value = std::env::var(s.env).ok();
        let (value, source) = match (from_flag, &env_value) {
            (Some(ValueSource::CommandLine), _) => (raw(matches, s.arg), "flag"),
            (Some(ValueSource::EnvVariable), Some(v)) | (None, Some(v)) => {
                let source = if file.keys.contains(s.key) {
                    "file"
                } else {
                    "env"
                };
                (Some(v.clone()), source)
            }
            (Some(ValueSource::DefaultValue), _) => (raw(matches, s.arg), "default"),
            _ if s.key == "log" => (None, "default"),
            _ => (None, "unset"),
        };
        let shown = match (&value, s.secret) {
            (Some(_), true) => "(set, hidden)".to_owned(),
            (Some(v), false) => hide_password(v),
            (None, _) if s.key == "log" => "info,tower_http=warn".to_owned(),
            (None, _) => "-".to_owned(),
        };
        println!("{:<16} {:<34} {:<9} {}", s.key, shown, source, s.env);
    }
    println!();
    for s in SETTINGS {
        println!("  {:<16} {}", s.key, s.help);
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
fn hide_password(value: &str) -> String {
    let Some((scheme, rest)) = value.split_once("://") else {
        return value.to_owned();
    };
    let Some((credentials, host)) = rest.split_once('@') else {
        return value.to_owned();
    };
    match credentials.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => value.to_owned(),
    }
}

fn raw(matches: &clap::ArgMatches, arg: Option<&str>) -> Option<String> {
    let values = matches.get_raw(arg?)?;
    Some(
        values
            .map(|v| v.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(","),
    )
}
