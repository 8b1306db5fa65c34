//! A real OpenTelemetry pipeline into spendlens: Python's OpenAI client with
//! the GenAI instrumentation and the SDK's own OTLP/HTTP exporter, calling a
//! local stand-in provider, pointed at a running `spendlens serve`.
//!
//! Needs the packages of `tests/otel/requirements.txt` in the Python named by
//! `SPENDLENS_OTEL_PYTHON` (`.ci/run` makes that virtualenv). Without them the
//! test says so and passes, unless `SPENDLENS_REQUIRE_OTEL=1` (CI) makes it fail.

mod common;

use common::{db_url, serve};

use std::process::Command;

fn python() -> Option<String> {
    let python = std::env::var("SPENDLENS_OTEL_PYTHON").unwrap_or_else(|_| "python3".into());
    let ready = Command::new(&python)
        .args([
            "-c",
            "import openai, opentelemetry.instrumentation.openai_v2, opentelemetry.exporter.otlp.proto.http",
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    if ready {
        return Some(python);
    }
    let why = format!(
        "{python} lacks the OpenTelemetry packages: pip install -r crates/cli/tests/otel/requirements.txt \
         and set SPENDLENS_OTEL_PYTHON"
    );
    assert!(
        std::env::var("SPENDLENS_REQUIRE_OTEL").as_deref() != Ok("1"),
        "{why}"
    );
    eprintln!("SKIPPED: {why}");
    None
}

#[tokio::test]
async fn the_standard_exporter_and_genai_instrumentation_feed_spendlens() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let admin = "otel-admin";
    let server = serve(&db_url(&dir), admin).await;
    let base = server.base();
    let token = server.acme_with_ingest_token(admin).await;

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/otel/export_spans.py");
    let out = tokio::task::spawn_blocking({
        let base = base.clone();
        move || {
            Command::new(python)
                .args([script, &base, &token, "3"])
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{said}");

    let messages = server
        .get(
            admin,
            "/v1/orgs/acme/messages?period=last_30d&user_id=dev-1&format=json",
        )
        .await;
    let rows = messages
        .as_array()
        .or_else(|| messages["data"].as_array())
        .unwrap_or_else(|| panic!("{messages}"));
    assert_eq!(rows.len(), 3, "{messages}\n{said}");
    for row in rows {
        assert_eq!(row["model"], "gpt-4o-mini-2024-07-18", "{row}");
        assert_eq!(row["tokens_in"], 42, "{row}");
        assert_eq!(row["tokens_out"], 7, "{row}");
    }
    let summary = server
        .get(admin, "/v1/orgs/acme/summary?period=last_30d")
        .await;
    assert_eq!(summary["messages"], 3, "{summary}");
    assert_eq!(summary["active_users"], 1, "{summary}");
    assert_eq!(summary["tokens_in"], 126, "{summary}");
}
