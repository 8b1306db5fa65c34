//! The OpenAPI document covers every route the routers declare, every
//! operation it lists is served, and every schema it references exists.

mod common;

use common::{start, ADMIN};
use serde_json::Value;
use spendlens_server::routes::openapi::{document, OPS};
use std::collections::BTreeSet;

/// (method, path) of every `.route(...)` in the routers' source.
fn declared_routes() -> BTreeSet<(String, String)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/routes");
    let mut out = BTreeSet::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let mut rest = text.as_str();
        while let Some(i) = rest.find(".route(") {
            let call = &rest[i + ".route(".len()..];
            // The call's arguments, up to the matching parenthesis.
            let (mut depth, mut end) = (1, 0);
            for (j, ch) in call.char_indices() {
                match ch {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                if depth == 0 {
                    end = j;
                    break;
                }
            }
            let args = &call[..end];
            let path = args.split('"').nth(1).unwrap().to_owned();
            for m in ["get", "post", "put", "patch", "delete"] {
                let n = args.matches(&format!("{m}(")).count();
                if n > 0 {
                    out.insert((m.to_owned(), path.clone()));
                }
            }
            rest = &call[end..];
        }
    }
    out
}

#[test]
fn every_declared_route_is_documented_and_nothing_else() {
    let declared = declared_routes();
    let documented: BTreeSet<(String, String)> = OPS
        .iter()
        .map(|o| (o.method.to_owned(), o.path.to_owned()))
        .collect();
    assert!(
        declared.len() > 30,
        "the scan found the routes: {declared:?}"
    );
    let missing: Vec<_> = declared.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&declared).collect();
    assert!(
        missing.is_empty(),
        "routes missing from the OpenAPI document: {missing:?}"
    );
    assert!(extra.is_empty(), "documented but not routed: {extra:?}");
}

fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "$ref" {
                    out.push(x.as_str().unwrap().to_owned());
                }
                refs(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

#[tokio::test]
async fn the_document_is_served_whole_and_every_operation_answers() {
    let s = start().await;
    s.org("acme", "UTC", "1").await;
    let served = s.send(s.http.get(s.url("/v1/openapi.json"))).await;
    assert_eq!(served.status, 200);
    assert_eq!(served.body, document());
    assert_eq!(served.body["openapi"], "3.1.0");
    let mut all = Vec::new();
    refs(&served.body, &mut all);
    for r in &all {
        let name = r.strip_prefix("#/components/schemas/").unwrap();
        assert!(
            served.body["components"]["schemas"].get(name).is_some(),
            "dangling {r}"
        );
    }
    for op in OPS {
        let path = op
            .path
            .replace("{org}", "acme")
            .replace("{user}", "alice")
            .replace("{team}", "core")
            .replace("{dept}", "Engineering")
            .replace("{key}", "key-prod")
            .replace("{conv}", "none-such")
            .replace("{id}", "tok_none");
        let req = match op.method {
            "get" => s.http.get(s.url(&path)),
            "post" => s.http.post(s.url(&path)).json(&serde_json::json!({})),
            "put" => s.http.put(s.url(&path)).json(&serde_json::json!({})),
            "patch" => s.http.patch(s.url(&path)).json(&serde_json::json!({})),
            "delete" => s.http.delete(s.url(&path)),
            other => panic!("{other}"),
        };
        let path = if op.path == "/v1/orgs/{org}/breakdown" {
            format!("{path}?group_by=user")
        } else {
            path
        };
        let req = if op.path == "/v1/orgs/{org}/breakdown" {
            s.http.get(s.url(&path))
        } else {
            req
        };
        let a = s.send(req.bearer_auth(ADMIN)).await;
        // Served by a handler: never the router's bare 404 or 405.
        assert_ne!(a.status, 405, "{} {path}", op.method);
        if a.status == 404 {
            assert_eq!(
                a.body["error"]["code"], "not_found",
                "{} {path} is not routed",
                op.method
            );
        }
    }
}
