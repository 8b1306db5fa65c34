//! The dashboard in a real browser: `spendlens demo` serves generated data on
//! a real socket, and `e2e/dashboard.mjs` (Playwright driving Debian's
//! chromium) logs in as each role, drills down by clicking, sorts, downloads
//! a CSV and checks it against the API, and saves a screenshot of each level.
//!
//! Without chromium, node or `e2e/node_modules` this test says so and passes,
//! unless SPENDLENS_REQUIRE_BROWSER=1 (set by `.ci/run`), where it fails.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Kills the demo server however the test ends.
struct Demo(Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn e2e_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../e2e")
}

/// What is missing to run the browser test, if anything.
fn missing(chromium: &Path) -> Option<String> {
    if !chromium.exists() {
        return Some(format!("{} (apt-get install chromium)", chromium.display()));
    }
    if Command::new("node").arg("--version").output().is_err() {
        return Some("node".into());
    }
    if !e2e_dir().join("node_modules/playwright-core").exists() {
        return Some("e2e/node_modules (npm ci in e2e/)".into());
    }
    None
}

#[test]
fn dashboard_in_a_real_browser() {
    let chromium = PathBuf::from(std::env::var("CHROMIUM").unwrap_or("/usr/bin/chromium".into()));
    if let Some(what) = missing(&chromium) {
        let required = std::env::var("SPENDLENS_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
        assert!(!required, "the browser test needs {what}");
        eprintln!("SKIPPED the browser test: {what} is missing (SPENDLENS_REQUIRE_BROWSER=1 makes this a failure)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("demo.db").display());
    let mut child = Command::new(env!("CARGO_BIN_EXE_spendlens"))
        .args(["demo", "--db", &db, "--listen", "127.0.0.1:0"])
        .env("SPENDLENS_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start spendlens demo");
    let stdout = child.stdout.take().unwrap();
    let _demo = Demo(child);

    // The demo prints its address, then one line per role: "  ROLE (ORG, USER)   SECRET".
    // A thread reads its output to the end: a closed pipe would make the
    // demo's next print fail and end the server.
    let (tx, lines) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let (mut base, mut roles) = (None, Vec::new());
    for line in lines.iter() {
        if let Some(b) = line.strip_prefix("spendlens demo — ") {
            base = Some(b.trim().to_owned());
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        if let (Some(role), Some(secret)) = (words.first(), words.last()) {
            if secret.starts_with("sl_") && *role != "ingest" {
                let inner = line.split_once('(').and_then(|(_, r)| r.split_once(')'));
                let (org, user) = match inner.map(|(i, _)| i.split_once(", ")) {
                    Some(Some((o, u))) => (Some(o.to_owned()), Some(u.to_owned())),
                    _ => (None, None),
                };
                roles.push(
                    serde_json::json!({"role": role, "org": org, "user": user, "token": secret}),
                );
            }
        }
        if line.starts_with("try:") {
            break;
        }
    }
    let base = base.expect("the demo printed no address");
    assert_eq!(roles.len(), 4, "a token per role: {roles:?}");

    let out = Command::new("node")
        .arg("dashboard.mjs")
        .current_dir(e2e_dir())
        .env("SPENDLENS_BASE", &base)
        .env(
            "SPENDLENS_ROLES",
            serde_json::Value::Array(roles).to_string(),
        )
        .env("CHROMIUM", &chromium)
        .output()
        .expect("run node");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{report}");
    assert!(out.status.success(), "the browser test failed:\n{report}");
    assert!(report.contains("ok   no console errors"), "{report}");
}
