//! The dashboard's pages over HTTP: login and its cookie, each role's
//! landing, 403/404 pages, and figures on the pages equal to the API's.

mod common;

use common::{event, start, TestServer, ADMIN};
use serde_json::{json, Value};
use spendlens_domain::money::{display_usd, parse_usd_sum};

const RANGE: &str = "from=2026-11-01&to=2026-12-01";

struct World {
    s: TestServer,
    admin: String,
    lead: String,
    member: String,
    ingest: String,
    http: reqwest::Client,
}

/// acme (markup 1.25): alice (org admin, core), bob (member, web), lena
/// (team lead of web); alice has a conversation of two messages, bob one.
async fn world() -> World {
    let s = start().await;
    s.org("acme", "UTC", "1.25").await;
    s.org("globex", "UTC", "1").await;
    s.post(
        ADMIN,
        "/v1/orgs/acme/teams",
        &json!({"id": "web", "name": "Web"}),
    )
    .await;
    for (user, body) in [
        (
            "bob",
            json!({"role": "member", "team_id": "web", "email": "bob@acme.test"}),
        ),
        ("lena", json!({"role": "team_lead", "team_id": "web"})),
    ] {
        let a = s
            .put(ADMIN, &format!("/v1/orgs/acme/members/{user}"), &body)
            .await;
        assert_eq!(a.status, 200, "{}", a.body);
    }
    let person =
        |role: &str, user: &str| json!({"role": role, "organization_id": "acme", "user_id": user});
    let admin = s.token(ADMIN, person("org_admin", "alice")).await;
    let lead = s
        .token(ADMIN, json!({"role": "team_lead", "organization_id": "acme", "user_id": "lena", "team_id": "web"}))
        .await;
    let member = s.token(ADMIN, person("member", "bob")).await;
    let ingest = s
        .token(ADMIN, json!({"role": "ingest", "organization_id": "acme"}))
        .await;
    let a = s
        .events(
            &ingest,
            &[
                event("a1", json!({"conversation_id": "conv-a", "conversation_title": "Fix the build", "occurred_at": "2026-11-03T10:00:00Z"})),
                event("a2", json!({"conversation_id": "conv-a", "model_name": "gpt-4o-mini", "occurred_at": "2026-11-03T10:05:00Z"})),
                event("b1", json!({"user_id": "bob", "team_id": "web", "conversation_id": "conv-b", "actual_api_cost": "0.050000000"})),
            ],
        )
        .await;
    assert_eq!(a.body["accepted"], 3, "{}", a.body);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    World {
        s,
        admin,
        lead,
        member,
        ingest,
        http,
    }
}

impl World {
    async fn login(&self, token: &str, https: bool) -> reqwest::Response {
        let mut req = self
            .http
            .post(self.s.url("/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={token}"));
        if https {
            req = req.header("x-forwarded-proto", "https");
        }
        req.send().await.unwrap()
    }

    /// A page as the browser gets it: with the session cookie.
    async fn page(&self, token: &str, path: &str) -> (u16, String) {
        let r = self
            .http
            .get(self.s.url(path))
            .header("cookie", format!("spendlens_session={token}"))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        if status == 200 {
            let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
            assert!(
                ct.starts_with("text/html") || ct.starts_with("text/csv"),
                "{path}: {ct}"
            );
        }
        (status, r.text().await.unwrap())
    }
}

fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

fn shown(money: &Value) -> String {
    display_usd(parse_usd_sum(money.as_str().unwrap()).unwrap())
}

#[tokio::test]
async fn each_role_logs_in_to_its_own_level_with_a_strict_cookie() {
    let w = world().await;
    for (token, landing) in [
        (ADMIN.to_owned(), "/platform"),
        (w.admin.clone(), "/orgs/acme"),
        (w.lead.clone(), "/orgs/acme/teams/web"),
        (w.member.clone(), "/orgs/acme/users/bob"),
    ] {
        let r = w.login(&token, false).await;
        assert_eq!(r.status(), 303);
        assert_eq!(header(&r, "location"), landing);
        let cookie = header(&r, "set-cookie");
        assert!(
            cookie.starts_with(&format!("spendlens_session={token};")),
            "{cookie}"
        );
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
            "{cookie}"
        );
        assert!(
            !cookie.contains("Secure"),
            "plain HTTP keeps no Secure cookie: {cookie}"
        );
        let (status, _) = w.page(&token, landing).await;
        assert_eq!(status, 200, "{landing}");
    }
    let r = w.login(&w.admin, true).await;
    assert!(header(&r, "set-cookie").contains("; Secure"));
    // Ingest tokens cannot log in; an unknown token is refused.
    let r = w.login(&w.ingest, false).await;
    assert_eq!(r.status(), 403);
    assert!(header(&r, "set-cookie").is_empty());
    let r = w.login("sl_nonsense", false).await;
    assert_eq!(r.status(), 401);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("unknown, expired or revoked"));
    // Without a session: to the login form.
    let r = w.http.get(w.s.url("/orgs/acme")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(header(&r, "location"), "/login");
    let r = w.http.post(w.s.url("/logout")).send().await.unwrap();
    assert!(header(&r, "set-cookie").contains("Max-Age=0"));
}

#[tokio::test]
async fn every_page_for_its_roles_and_a_403_page_for_the_others() {
    let w = world().await;
    let pages = [
        (
            "/platform",
            vec![ADMIN],
            vec![w.admin.as_str(), w.lead.as_str(), w.member.as_str()],
        ),
        (
            "/orgs/acme",
            vec![ADMIN, w.admin.as_str()],
            vec![w.lead.as_str(), w.member.as_str()],
        ),
        (
            "/orgs/acme/api-keys/key-prod",
            vec![ADMIN, w.admin.as_str()],
            vec![w.lead.as_str(), w.member.as_str()],
        ),
        (
            "/orgs/acme/api-keys/_none",
            vec![ADMIN, w.admin.as_str()],
            vec![w.member.as_str()],
        ),
        (
            "/orgs/acme/departments/Engineering",
            vec![ADMIN, w.admin.as_str()],
            vec![w.lead.as_str(), w.member.as_str()],
        ),
        (
            "/orgs/acme/teams/web",
            vec![ADMIN, w.admin.as_str(), w.lead.as_str()],
            vec![w.member.as_str()],
        ),
        (
            "/orgs/acme/teams/core",
            vec![ADMIN, w.admin.as_str()],
            vec![w.lead.as_str(), w.member.as_str()],
        ),
        (
            "/orgs/acme/users/bob",
            vec![ADMIN, w.admin.as_str(), w.lead.as_str(), w.member.as_str()],
            vec![],
        ),
        (
            "/orgs/acme/users/alice",
            vec![ADMIN, w.admin.as_str()],
            vec![w.lead.as_str(), w.member.as_str()],
        ),
        (
            "/orgs/acme/conversations/conv-b",
            vec![ADMIN, w.admin.as_str(), w.lead.as_str(), w.member.as_str()],
            vec![],
        ),
        (
            "/orgs/acme/conversations/conv-a",
            vec![ADMIN, w.admin.as_str()],
            vec![w.lead.as_str(), w.member.as_str()],
        ),
    ];
    for (path, allowed, refused) in pages {
        let path = format!("{path}?{RANGE}");
        for t in allowed {
            let (status, body) = w.page(t, &path).await;
            assert_eq!(status, 200, "{path}: {body}");
            assert!(body.contains("<h1>"), "{path}");
        }
        for t in refused {
            let (status, body) = w.page(t, &path).await;
            assert_eq!(status, 403, "{path}");
            assert!(body.contains("403 · Not allowed"), "{path}: {body}");
            assert!(!body.contains("$0.0"), "{path}: a 403 page shows no figure");
        }
    }
    // An organisation without events says how to send one.
    let (status, body) = w.page(ADMIN, "/orgs/globex").await;
    assert_eq!(status, 200);
    assert!(body.contains("No spend in this period."), "{body}");
    assert!(body.contains("curl -X POST"), "{body}");
    // Another organisation is 404, as in the API; a bad period is a 400 page.
    assert_eq!(w.page(&w.admin, "/orgs/globex").await.0, 404);
    let (status, body) = w.page(&w.admin, "/orgs/acme?period=someday").await;
    assert_eq!(status, 400);
    assert!(body.contains("400 · Bad request"), "{body}");
}

#[tokio::test]
async fn figures_on_the_pages_are_the_apis() {
    let w = world().await;
    let sum =
        w.s.get(&w.admin, &format!("/v1/orgs/acme/summary?{RANGE}"))
            .await
            .body;
    let (_, org) = w.page(&w.admin, &format!("/orgs/acme?{RANGE}")).await;
    for figure in ["total_cost", "profit"] {
        assert!(
            org.contains(&shown(&sum[figure])),
            "{figure} {} not on the page",
            sum[figure]
        );
    }
    assert!(org.contains("20%"), "margin 0.2 of a 1.25 markup");
    let users =
        w.s.get(&w.admin, &format!("/v1/orgs/acme/users?{RANGE}"))
            .await
            .body;
    for u in users["data"].as_array().unwrap() {
        assert!(org.contains(&shown(&u["total_cost"])), "{u}");
        // The share, from the organisation total the page's lists share.
        let share = u["share"].as_f64().unwrap() * 100.0;
        assert!(org.contains(&format!(">{share:.0}%<")), "{u}");
        assert!(
            org.contains(&format!(
                "/orgs/acme/users/{}?{}",
                u["user_id"].as_str().unwrap(),
                RANGE.replace('&', "&amp;")
            )),
            "{u}"
        );
    }

    let me =
        w.s.get(&w.admin, &format!("/v1/orgs/acme/users/alice?{RANGE}"))
            .await
            .body;
    let (_, page) = w
        .page(&w.admin, &format!("/orgs/acme/users/alice?{RANGE}"))
        .await;
    // alice spent $0.0250 of an average ($0.0875 over 2) of $0.04375: 43% below (API.md §3).
    let pct = me["comparison"]["percent_vs_avg"].as_f64().unwrap();
    assert!((pct - (-42.857142857142854)).abs() < 1e-9, "{pct}");
    assert!(page.contains("43% below average"), "{pct}");
    assert!(page.contains(&shown(&me["comparison"]["org_avg_cost_per_active_user"])));
    assert!(page.contains("Fix the build"));

    let conv =
        w.s.get(&w.admin, "/v1/orgs/acme/conversations/conv-a")
            .await
            .body;
    let (_, page) = w.page(&w.admin, "/orgs/acme/conversations/conv-a").await;
    for m in conv["messages"].as_array().unwrap() {
        assert!(page.contains(m["model"].as_str().unwrap()));
        assert!(page.contains(&shown(&m["total_cost"])));
    }
    // Times in the organisation's timezone (UTC here): 10:05 as sent.
    assert!(page.contains("2026-11-03 10:05"));
    // A member sees no provider cost, on the page as in the API.
    let (_, page) = w.page(&w.member, "/orgs/acme/conversations/conv-b").await;
    assert!(!page.contains("Provider cost"));
}

#[tokio::test]
async fn the_session_cookie_authorises_csv_downloads_and_never_writes() {
    let w = world().await;
    let path = format!("/v1/orgs/acme/users?{RANGE}&format=csv");
    let by_bearer = w.s.get(&w.admin, &path).await.body;
    let (status, by_cookie) = w.page(&w.admin, &path).await;
    assert_eq!(status, 200);
    assert_eq!(Value::String(by_cookie.clone()), by_bearer);
    assert!(by_cookie.starts_with("user_id,email,"), "{by_cookie}");
    // The member's cookie does not reach organisation-wide lists.
    assert_eq!(w.page(&w.member, &path).await.0, 403);
    // A cookie alone never sends events.
    let r = w
        .http
        .post(w.s.url("/v1/events"))
        .header("cookie", format!("spendlens_session={ADMIN}"))
        .json(&json!([event("x1", json!({}))]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // A page's own table as CSV: the conversation's messages, one row each.
    let (status, csv) = w
        .page(&w.admin, "/orgs/acme/conversations/conv-a?csv=messages")
        .await;
    assert_eq!(status, 200);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(lines[0].starts_with("event_id,occurred_at,model"), "{csv}");
    assert!(
        lines[2].starts_with("a2,") && lines[2].contains("gpt-4o-mini"),
        "{csv}"
    );
}

/// Issue 6 on the pages: the organisation's budgets panel with state and
/// projection, the forecast, days that stand out and recommendations; a
/// person's own budget on their page.
#[tokio::test]
async fn budgets_forecast_anomalies_and_savings_are_on_the_pages() {
    let w = world().await;
    // Budgets are of the current period: spend in it, whatever today is.
    let now = (jiff::Timestamp::now() - jiff::SignedDuration::from_secs(60)).to_string();
    let a =
        w.s.events(
            &w.ingest,
            &[event(
                "now1",
                json!({"occurred_at": now, "actual_api_cost": "0.050000000"}),
            )],
        )
        .await;
    assert_eq!(a.body["accepted"], 1, "{}", a.body);
    for b in [
        json!({"id": "acme-month", "scope": "org", "period": "monthly", "amount": "0.01"}),
        json!({"id": "bob-day", "scope": "user", "scope_id": "bob", "period": "daily", "amount": "100", "hard_limit": true}),
    ] {
        assert_eq!(
            w.s.post(ADMIN, "/v1/orgs/acme/budgets", &b).await.status,
            201
        );
    }
    let (status, org) = w.page(&w.admin, &format!("/orgs/acme?{RANGE}")).await;
    assert_eq!(status, 200);
    for needle in [
        "id=\"budgets\"",
        "acme-month",
        "state-exceeded",
        "bob-day",
        "hard limit",
        "id=\"forecast\"",
        "Projected for the month",
        "id=\"anomalies\"",
        "id=\"recommendations\"",
    ] {
        assert!(
            org.contains(needle),
            "{needle} missing from the organisation page"
        );
    }
    // The budget's figures are the API's.
    let api =
        w.s.get(ADMIN, "/v1/orgs/acme/budgets/acme-month")
            .await
            .body;
    assert!(
        org.contains(&shown(&api["amount"])),
        "amount {}",
        api["amount"]
    );
    // bob sees his own budget, not the organisation's.
    let (status, mine) = w
        .page(&w.member, &format!("/orgs/acme/users/bob?{RANGE}"))
        .await;
    assert_eq!(status, 200);
    assert!(
        mine.contains("bob-day") && !mine.contains("acme-month"),
        "bob's page"
    );
    assert!(mine.contains("id=\"recommendations\"") && mine.contains("Projected for the month"));
}

#[tokio::test]
async fn the_lists_api_paths_lead_to_the_organisation_pages_tables() {
    let w = world().await;
    for list in ["users", "api-keys", "models", "teams", "departments"] {
        let r = w
            .http
            .get(w.s.url(&format!("/orgs/acme/{list}?period=last_7d")))
            .header("cookie", format!("spendlens_session={}", w.admin))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 303, "{list}");
        assert_eq!(
            header(&r, "location"),
            format!("/orgs/acme?period=last_7d#{list}")
        );
        // The page it leads to holds that table.
        let (status, body) = w.page(&w.admin, "/orgs/acme?period=last_7d").await;
        assert_eq!(status, 200);
        assert!(body.contains(&format!("id=\"{list}\"")), "{list}");
    }
    // Where it leads, access is decided as for the page itself.
    let (status, _) = w.page(&w.member, "/orgs/acme").await;
    assert_eq!(status, 403);
}
