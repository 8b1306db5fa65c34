//! The analytics lists over HTTP against a direct computation over the raw
//! stored events: users, keys, breakdown and series; paging; bad parameters.

mod common;

use common::{start, TestServer, ADMIN};
use serde_json::{json, Value};
use spendlens_datagen::{events, setup, Spec};
use spendlens_domain::money::format_usd;
use spendlens_domain::time::Day;
use spendlens_store::model::StoredEvent;
use std::collections::{BTreeMap, HashMap, HashSet};

const FROM: &str = "2026-10-20";
const TO: &str = "2026-11-16";

/// The demo-like dataset, created and loaded over HTTP.
async fn loaded() -> (TestServer, Vec<StoredEvent>) {
    let s = start().await;
    let mut spec = Spec::custom(12_000, 11, jiff::civil::date(2026, 11, 15));
    spec.days = 45;
    for org in setup(&spec).orgs {
        let a = s.post(ADMIN, "/v1/orgs", &json!({"id": org.id, "name": org.name, "timezone": org.timezone, "markup": org.markup})).await;
        assert_eq!(a.status, 201, "{}", a.body);
        for t in &org.teams {
            s.post(
                ADMIN,
                &format!("/v1/orgs/{}/teams", org.id),
                &json!({"id": t.id, "name": t.name, "department": t.department}),
            )
            .await;
        }
        for m in &org.members {
            s.put(ADMIN, &format!("/v1/orgs/{}/members/{}", org.id, m.user_id), &json!({"email": m.email, "role": m.role, "team_id": m.team_id, "department": m.department})).await;
        }
        for k in &org.keys {
            s.post(
                ADMIN,
                &format!("/v1/orgs/{}/api-keys", org.id),
                &json!({"id": k.id, "name": k.name, "provider": k.provider}),
            )
            .await;
        }
    }
    let all: Vec<Value> = events(&spec).collect();
    for chunk in all.chunks(5_000) {
        let a = s.events(ADMIN, chunk).await;
        assert_eq!(a.body["rejected"], 0, "{}", a.body);
    }
    let raw = s.store.events("acme").await.unwrap();
    (s, raw)
}

fn in_period(e: &StoredEvent) -> bool {
    let d = Day(e.day);
    d >= Day::parse(FROM).unwrap() && d < Day::parse(TO).unwrap()
}

/// conversation id → its first event (earliest occurred_at, ties by event_id).
fn firsts(raw: &[StoredEvent]) -> HashMap<&str, &StoredEvent> {
    let mut first: HashMap<&str, &StoredEvent> = HashMap::new();
    for e in raw {
        let slot = first.entry(&e.conversation_id).or_insert(e);
        if (e.occurred_at, &e.event_id) < (slot.occurred_at, &slot.event_id) {
            *slot = e;
        }
    }
    first
}

#[derive(Default, Debug, PartialEq)]
struct Fig {
    total: i128,
    actual: i128,
    messages: u64,
    conversations: u64,
    tokens: u64,
    users: usize,
}

fn by<K: Ord + Clone>(
    raw: &[StoredEvent],
    key: impl Fn(&StoredEvent) -> Option<K>,
) -> BTreeMap<K, Fig> {
    let mut out: BTreeMap<K, Fig> = BTreeMap::new();
    let mut users: BTreeMap<K, HashSet<&str>> = BTreeMap::new();
    for e in raw.iter().filter(|e| in_period(e)) {
        let Some(k) = key(e) else { continue };
        let f = out.entry(k.clone()).or_default();
        f.total += i128::from(e.total_cost);
        f.actual += i128::from(e.actual_api_cost);
        f.messages += 1;
        f.tokens += e.tokens_in + e.tokens_out;
        users.entry(k).or_default().insert(&e.user_id);
    }
    for e in firsts(raw).values().filter(|e| in_period(e)) {
        if let Some(k) = key(e) {
            out.get_mut(&k).unwrap().conversations += 1;
        }
    }
    for (k, u) in users {
        out.get_mut(&k).unwrap().users = u.len();
    }
    out
}

/// Every page of a list, following next_cursor.
async fn all_pages(s: &TestServer, path: &str) -> Vec<Value> {
    let mut rows = Vec::new();
    let mut url = path.to_owned();
    loop {
        let a = s.get(ADMIN, &url).await;
        assert_eq!(a.status, 200, "{url}: {}", a.body);
        rows.extend(a.body["data"].as_array().unwrap().iter().cloned());
        match a.body["next_cursor"].as_str() {
            Some(c) => url = format!("{path}&cursor={c}"),
            None => return rows,
        }
    }
}

fn check_row(row: &Value, f: &Fig) {
    assert_eq!(row["total_cost"], format_usd(f.total), "{row}");
    assert_eq!(row["actual_api_cost"], format_usd(f.actual), "{row}");
    assert_eq!(row["messages"], f.messages, "{row}");
    assert_eq!(row["conversations"], f.conversations, "{row}");
    assert_eq!(row["tokens"], f.tokens, "{row}");
}

#[tokio::test]
async fn lists_match_the_raw_events() {
    let (s, raw) = loaded().await;
    let range = format!("from={FROM}&to={TO}");

    // Users, 7 per page, by total_cost desc then id.
    let rows = all_pages(&s, &format!("/v1/orgs/acme/users?{range}&limit=7")).await;
    let want = by(&raw, |e| Some(e.user_id.clone()));
    assert_eq!(rows.len(), want.len());
    let mut seen = HashSet::new();
    for r in &rows {
        let id = r["user_id"].as_str().unwrap().to_owned();
        assert!(seen.insert(id.clone()), "{id} on two pages");
        check_row(r, &want[&id]);
    }
    let costs: Vec<i128> = rows
        .iter()
        .map(|r| want[r["user_id"].as_str().unwrap()].total)
        .collect();
    assert!(
        costs.windows(2).all(|w| w[0] >= w[1]),
        "sorted by total_cost desc"
    );
    let share: f64 = rows.iter().map(|r| r["share"].as_f64().unwrap()).sum();
    assert!((share - 1.0).abs() < 1e-9, "{share}");

    let by_email = all_pages(
        &s,
        &format!("/v1/orgs/acme/users?{range}&sort=email&limit=100"),
    )
    .await;
    let emails: Vec<&str> = by_email
        .iter()
        .map(|r| r["email"].as_str().unwrap_or(""))
        .collect();
    assert!(
        emails.windows(2).all(|w| w[0] <= w[1]),
        "A to Z by default: {emails:?}"
    );

    // API keys, with "Unknown key" for events without one.
    let rows = all_pages(
        &s,
        &format!("/v1/orgs/acme/api-keys?{range}&sort=messages&order=asc"),
    )
    .await;
    let want = by(&raw, |e| Some(e.api_key_id.clone()));
    assert_eq!(rows.len(), want.len());
    for r in &rows {
        let id = r["api_key_id"].as_str().map(str::to_owned);
        check_row(r, &want[&id]);
        assert_eq!(r["unique_users"], want[&id].users);
        if id.is_none() {
            assert_eq!(r["name"], "Unknown key");
        }
    }
    assert!(
        rows.iter().any(|r| r["api_key_id"].is_null()),
        "the dataset has events without a key"
    );

    // Breakdown by team × model, filtered to one provider.
    let rows = all_pages(
        &s,
        &format!(
            "/v1/orgs/acme/breakdown?{range}&group_by=team,model&provider=anthropic&limit=100"
        ),
    )
    .await;
    let want = by(&raw, |e| {
        (e.provider.as_deref() == Some("anthropic")).then(|| (e.team_id.clone(), e.model.clone()))
    });
    assert_eq!(rows.len(), want.len());
    for r in &rows {
        let k = (
            r["team_id"].as_str().map(str::to_owned),
            r["model"].as_str().unwrap().to_owned(),
        );
        check_row(r, &want[&k]);
        assert_eq!(r["active_users"], want[&k].users);
    }
    // The same groups 7 a page, sorted by a dimension's value or by cost:
    // each group once, in the order the raw events give, ties by the
    // group's values joined ("_none" for no team).
    let team = |k: &(Option<String>, String)| k.0.clone().unwrap_or_else(|| "_none".into());
    let row_id = |k: &(Option<String>, String)| format!("{}\u{1f}{}", team(k), k.1);
    for (sort, order) in [
        ("model", "asc"),
        ("team_id", "desc"),
        ("total_cost", "desc"),
    ] {
        let paged = all_pages(
            &s,
            &format!(
                "/v1/orgs/acme/breakdown?{range}&group_by=team,model&provider=anthropic&sort={sort}&order={order}&limit=7"
            ),
        )
        .await;
        let got: Vec<(Option<String>, String)> = paged
            .iter()
            .map(|r| {
                (
                    r["team_id"].as_str().map(str::to_owned),
                    r["model"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let mut expected: Vec<(Option<String>, String)> = want.keys().cloned().collect();
        expected.sort_by(|a, b| {
            let by_key = match sort {
                "model" => a.1.cmp(&b.1),
                "team_id" => team(a).cmp(&team(b)).reverse(),
                _ => want[a].total.cmp(&want[b].total).reverse(),
            };
            by_key.then_with(|| row_id(a).cmp(&row_id(b)))
        });
        assert_eq!(got, expected, "sort={sort}&order={order}");
    }

    // Weekly series: dense, Monday labels, and the buckets add up to the summary.
    let series = s
        .get(
            ADMIN,
            &format!("/v1/orgs/acme/timeseries?{range}&bucket=week"),
        )
        .await;
    assert_eq!(series.status, 200, "{}", series.body);
    let data = series.body["data"].as_array().unwrap();
    let want = by(&raw, |e| Some(Day(e.day).iso_week_monday().to_string()));
    let labels: Vec<&str> = data.iter().map(|r| r["date"].as_str().unwrap()).collect();
    assert_eq!(
        labels,
        vec!["2026-10-19", "2026-10-26", "2026-11-02", "2026-11-09"]
    );
    for r in data {
        check_row(
            r,
            want.get(r["date"].as_str().unwrap())
                .unwrap_or(&Fig::default()),
        );
    }
    let csv_text = s
        .http
        .get(s.url(&format!(
            "/v1/orgs/acme/timeseries?{range}&bucket=week&format=csv"
        )))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut csv = csv::Reader::from_reader(csv_text.as_bytes());
    assert_eq!(
        &csv.headers().unwrap().iter().take(2).collect::<Vec<_>>(),
        &["date", "total_cost"]
    );
    let csv_rows: Vec<(String, String)> = csv
        .records()
        .map(|r| r.unwrap())
        .map(|r| (r[0].to_owned(), r[1].to_owned()))
        .collect();
    let json_rows: Vec<(String, String)> = data
        .iter()
        .map(|r| {
            (
                r["date"].as_str().unwrap().to_owned(),
                r["total_cost"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(csv_rows, json_rows);
    let summary = s
        .get(ADMIN, &format!("/v1/orgs/acme/summary?{range}"))
        .await;
    let total: i128 = want.values().map(|f| f.total).sum();
    assert_eq!(summary.body["total_cost"], format_usd(total));
}

#[tokio::test]
async fn bad_parameters_are_400_naming_the_parameter() {
    let s = start().await;
    s.org("acme", "UTC", "1").await;
    let cases = [
        ("/v1/orgs/acme/users?limit=101", "limit"),
        ("/v1/orgs/acme/users?limit=0", "limit"),
        ("/v1/orgs/acme/users?sort=salary", "sort"),
        ("/v1/orgs/acme/users?order=sideways", "order"),
        ("/v1/orgs/acme/users?from=2026-13-01&to=2026-12-01", "from"),
        ("/v1/orgs/acme/users?from=2026-11-01", "to"),
        ("/v1/orgs/acme/users?from=2026-11-05&to=2026-11-01", "to"),
        ("/v1/orgs/acme/users?period=last_week", "period"),
        (
            "/v1/orgs/acme/users?period=last_7d&from=2026-11-01&to=2026-11-02",
            "period",
        ),
        ("/v1/orgs/acme/users?cursor=garbage", "cursor"),
        ("/v1/orgs/acme/users?limt=5", "limt"),
        (
            "/v1/orgs/acme/users?period=last_7d&period=last_30d",
            "period",
        ),
        (
            "/v1/tokens?organization_id=acme&organization_id=globex",
            "organization_id",
        ),
        ("/v1/orgs/acme/users?api_key_id=", "api_key_id"),
        ("/v1/orgs/acme/breakdown", "group_by"),
        ("/v1/orgs/acme/breakdown?group_by=user,colour", "group_by"),
        (
            "/v1/orgs/acme/breakdown?group_by=user,team,model,provider",
            "group_by",
        ),
        ("/v1/orgs/acme/breakdown?group_by=day,month", "group_by"),
        ("/v1/orgs/acme/timeseries?bucket=fortnight", "bucket"),
        ("/v1/orgs/acme/summary?from=yesterday&to=2026-11-02", "from"),
    ];
    for (path, parameter) in cases {
        let a = s.get(ADMIN, path).await;
        assert_eq!(a.status, 400, "{path}: {}", a.body);
        assert_eq!(
            a.body["error"]["parameter"], parameter,
            "{path}: {}",
            a.body
        );
        assert!(!a.body["error"]["message"].as_str().unwrap().is_empty());
    }
}

#[tokio::test]
async fn a_cursor_only_continues_its_own_question() {
    let s = start().await;
    s.org("acme", "UTC", "1").await;
    let t = s
        .token(ADMIN, json!({"role": "ingest", "organization_id": "acme"}))
        .await;
    let evs: Vec<Value> = (0..30)
        .map(|i| {
            common::event(
                &format!("e{i}"),
                json!({"user_id": format!("u{i:02}"), "conversation_id": format!("c{i}")}),
            )
        })
        .collect();
    assert_eq!(s.events(&t, &evs).await.body["accepted"], 30);
    let first = s
        .get(
            ADMIN,
            "/v1/orgs/acme/users?from=2026-11-01&to=2026-12-01&limit=10",
        )
        .await;
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
    // Equal costs: ties are ordered by id, so the pages are u00–u09, u10–u19, …
    assert_eq!(first.body["data"][9]["user_id"], "u09");
    let second = s
        .get(
            ADMIN,
            &format!("/v1/orgs/acme/users?from=2026-11-01&to=2026-12-01&limit=10&cursor={cursor}"),
        )
        .await;
    assert_eq!(second.body["data"][0]["user_id"], "u10", "{}", second.body);
    let other = s
        .get(
            ADMIN,
            &format!("/v1/orgs/acme/users?from=2026-10-01&to=2026-12-01&limit=10&cursor={cursor}"),
        )
        .await;
    assert_eq!(
        (other.status, other.body["error"]["parameter"].as_str()),
        (400, Some("cursor"))
    );
}

#[tokio::test]
async fn org_wide_lists_are_for_admins_only() {
    let s = start().await;
    s.org("acme", "UTC", "1").await;
    s.org("globex", "UTC", "1").await;
    s.put(
        ADMIN,
        "/v1/orgs/acme/members/lead",
        &json!({"role": "team_lead", "team_id": "core"}),
    )
    .await;
    let lead = s
        .token(
            ADMIN,
            json!({"role": "team_lead", "organization_id": "acme", "user_id": "lead"}),
        )
        .await;
    let admin = s
        .token(
            ADMIN,
            json!({"role": "org_admin", "organization_id": "acme", "user_id": "alice"}),
        )
        .await;
    for list in [
        "users",
        "api-keys",
        "models",
        "teams",
        "departments",
        "breakdown?group_by=user",
        "timeseries",
    ] {
        assert_eq!(
            s.get(&lead, &format!("/v1/orgs/acme/{list}")).await.status,
            403,
            "{list}"
        );
        let foreign = s.get(&admin, &format!("/v1/orgs/globex/{list}")).await;
        assert_eq!(foreign.status, 404, "{list}");
        assert!(!foreign.body.to_string().contains("Org globex"));
        assert_eq!(
            s.get(&admin, &format!("/v1/orgs/acme/{list}")).await.status,
            200,
            "{list}"
        );
    }
}

#[tokio::test]
async fn platform_figures_sum_the_organisations_each_in_its_own_days() {
    let (s, _) = loaded().await;
    let orgs = s.store.list_orgs().await.unwrap();
    let (mut total, mut messages, mut users, mut active_orgs) = (0i128, 0u64, 0usize, 0usize);
    let mut per_org = BTreeMap::new();
    for o in &orgs {
        let raw = s.store.events(&o.id).await.unwrap();
        let f = by(&raw, |_| Some(()));
        if let Some(f) = f.get(&()) {
            total += f.total;
            messages += f.messages;
            users += f.users;
            active_orgs += 1;
            per_org.insert(o.id.clone(), f.total);
        }
    }
    let a = s
        .get(ADMIN, &format!("/v1/platform/summary?from={FROM}&to={TO}"))
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["total_cost"], format_usd(total));
    assert_eq!(a.body["messages"], messages);
    assert_eq!(a.body["active_users"], users);
    assert_eq!(a.body["organizations"], active_orgs);
    assert!(a.body["previous"]["total_cost"].is_string());

    let rows = all_pages(
        &s,
        &format!("/v1/platform/organizations?from={FROM}&to={TO}&limit=2"),
    )
    .await;
    assert_eq!(rows.len(), per_org.len());
    for r in &rows {
        assert_eq!(
            r["total_cost"],
            format_usd(per_org[r["organization_id"].as_str().unwrap()]),
            "{r}"
        );
    }
    let admin = s.token(ADMIN, json!({"role": "org_admin", "organization_id": "acme", "user_id": setup_admin(&s).await})).await;
    assert_eq!(s.get(&admin, "/v1/platform/summary").await.status, 403);
    assert_eq!(
        s.get(&admin, "/v1/platform/organizations").await.status,
        403
    );
}

/// Some org_admin member of acme.
async fn setup_admin(s: &TestServer) -> String {
    let members = s.store.list_members("acme").await.unwrap();
    members
        .into_iter()
        .find(|m| m.role == spendlens_store::model::Role::OrgAdmin)
        .unwrap()
        .user_id
}

#[tokio::test]
async fn exports_equal_the_json_lists_and_stream_every_message() {
    let (s, raw) = loaded().await;
    let range = format!("from={FROM}&to={TO}");

    // The users list as CSV equals its JSON, row for row.
    let json_rows = all_pages(&s, &format!("/v1/orgs/acme/users?{range}&limit=100")).await;
    let resp = s
        .http
        .get(s.url(&format!("/v1/orgs/acme/users?{range}")))
        .bearer_auth(ADMIN)
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/csv; charset=utf-8");
    assert_eq!(
        resp.headers()["content-disposition"],
        format!("attachment; filename=\"spendlens-acme-users-{FROM}-{TO}.csv\"")
    );
    let text = resp.text().await.unwrap();
    let mut csv = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = csv.headers().unwrap().iter().map(str::to_owned).collect();
    assert_eq!(
        header[..5],
        ["user_id", "email", "team_id", "department", "total_cost"]
    );
    let records: Vec<csv::StringRecord> = csv.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), json_rows.len());
    for (rec, j) in records.iter().zip(&json_rows) {
        assert_eq!(&rec[0], j["user_id"].as_str().unwrap());
        assert_eq!(&rec[4], j["total_cost"].as_str().unwrap());
        assert_eq!(
            rec[6].parse::<u64>().unwrap(),
            j["messages"].as_u64().unwrap()
        );
    }

    // Messages: paged JSON, CSV and NDJSON hold the same events, in time order.
    let mut want: Vec<&StoredEvent> = raw.iter().filter(|e| in_period(e)).collect();
    want.sort_by(|a, b| (a.occurred_at, &a.event_id).cmp(&(b.occurred_at, &b.event_id)));
    let paged = all_pages(&s, &format!("/v1/orgs/acme/messages?{range}&limit=100")).await;
    let ids: Vec<&str> = paged
        .iter()
        .map(|r| r["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        want.iter().map(|e| e.event_id.as_str()).collect::<Vec<_>>()
    );
    let csv_text = s
        .http
        .get(s.url(&format!("/v1/orgs/acme/messages?{range}&format=csv")))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut csv = csv::Reader::from_reader(csv_text.as_bytes());
    let records: Vec<csv::StringRecord> = csv.records().map(|r| r.unwrap()).collect();
    let csv_ids: Vec<&str> = records.iter().map(|r| &r[0]).collect();
    assert_eq!(csv_ids, ids);
    // Every name a row carries is the event's own (the download names ids from memory).
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    for (r, e) in records.iter().zip(&want) {
        let got: Vec<&str> = (2..9).map(|i| &r[i]).collect();
        let expected = [
            e.user_id.clone(),
            opt(&e.team_id),
            opt(&e.department),
            opt(&e.api_key_id),
            opt(&e.provider),
            e.model.clone(),
            e.conversation_id.clone(),
        ];
        assert_eq!(got, expected, "{}", e.event_id);
    }
    // Each named filter keeps that value's events alone.
    let first = want
        .iter()
        .find(|e| e.api_key_id.is_some() && e.team_id.is_some())
        .unwrap();
    for (param, value, keep) in [
        (
            "user_id",
            first.user_id.clone(),
            Box::new(|e: &StoredEvent| e.user_id == first.user_id)
                as Box<dyn Fn(&StoredEvent) -> bool>,
        ),
        (
            "team_id",
            opt(&first.team_id),
            Box::new(|e: &StoredEvent| e.team_id == first.team_id),
        ),
        (
            "api_key_id",
            opt(&first.api_key_id),
            Box::new(|e: &StoredEvent| e.api_key_id == first.api_key_id),
        ),
        (
            "model",
            first.model.clone(),
            Box::new(|e: &StoredEvent| e.model == first.model),
        ),
        (
            "user_id",
            "nobody-at-all".to_owned(),
            Box::new(|_: &StoredEvent| false),
        ),
    ] {
        let path = format!("/v1/orgs/acme/messages?{range}&format=json&{param}={value}");
        let a = s.get(ADMIN, &path).await;
        assert_eq!(a.status, 200, "{path}: {}", a.body);
        let got: Vec<&str> = a
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["event_id"].as_str().unwrap())
            .collect();
        let expected: Vec<&str> = want
            .iter()
            .filter(|e| keep(e))
            .map(|e| e.event_id.as_str())
            .collect();
        assert_eq!(got, expected, "{param}={value}");
    }
    let nd = s
        .http
        .get(s.url(&format!("/v1/orgs/acme/messages?{range}&format=ndjson")))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let total: i128 = nd
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|v| {
            spendlens_domain::Nanos::parse_usd(v["total_cost"].as_str().unwrap(), 1_000_000)
                .unwrap()
                .0 as i128
        })
        .sum();
    assert_eq!(
        total,
        want.iter().map(|e| i128::from(e.total_cost)).sum::<i128>()
    );
    let js: Value = s
        .http
        .get(s.url(&format!(
            "/v1/orgs/acme/messages?{range}&format=json&api_key_id=_none"
        )))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        js.as_array().unwrap().len(),
        want.iter().filter(|e| e.api_key_id.is_none()).count()
    );
}

#[tokio::test]
async fn spreadsheet_formulas_in_text_cells_are_neutralised() {
    let s = start().await;
    s.org("acme", "UTC", "1").await;
    let t = s
        .token(ADMIN, json!({"role": "ingest", "organization_id": "acme"}))
        .await;
    let a = s
        .events(
            &t,
            &[common::event(
                "x1",
                json!({"user_id": "=HYPERLINK(\"http://evil\")", "conversation_id": "cx"}),
            )],
        )
        .await;
    assert_eq!(a.body["accepted"], 1, "{}", a.body);
    let text = s
        .http
        .get(s.url("/v1/orgs/acme/users?from=2026-11-01&to=2026-12-01&format=csv"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut csv = csv::Reader::from_reader(text.as_bytes());
    let rec = csv.records().next().unwrap().unwrap();
    assert_eq!(&rec[0], "'=HYPERLINK(\"http://evil\")");
    assert_eq!(&rec[4], "0.010000000", "numbers stay numbers");
}

#[tokio::test]
async fn team_department_and_key_pages_match_the_raw_events() {
    let (s, raw) = loaded().await;
    let range = format!("from={FROM}&to={TO}");
    let team = raw.iter().find_map(|e| e.team_id.clone()).unwrap();
    let page = s
        .get(ADMIN, &format!("/v1/orgs/acme/teams/{team}?{range}"))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let want = by(&raw, |e| {
        (e.team_id.as_deref() == Some(team.as_str())).then_some(())
    });
    check_row(&page.body, &want[&()]);
    assert_eq!(page.body["series"].as_array().unwrap().len(), 27);
    let series_total: i128 = page.body["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            spendlens_domain::Nanos::parse_usd(r["total_cost"].as_str().unwrap(), 1_000_000)
                .unwrap()
                .0 as i128
        })
        .sum();
    assert_eq!(series_total, want[&()].total);
    assert_eq!(page.body["users_total"], want[&()].users);

    let unknown = s
        .get(ADMIN, &format!("/v1/orgs/acme/api-keys/_none?{range}"))
        .await;
    assert_eq!(unknown.body["name"], "Unknown key");
    let want = by(&raw, |e| e.api_key_id.is_none().then_some(()));
    check_row(&unknown.body, &want[&()]);

    let dept = raw.iter().find_map(|e| e.department.clone()).unwrap();
    let page = s
        .get(ADMIN, &format!("/v1/orgs/acme/departments/{dept}?{range}"))
        .await;
    let want = by(&raw, |e| {
        (e.department.as_deref() == Some(dept.as_str())).then_some(())
    });
    check_row(&page.body, &want[&()]);
    assert_eq!(
        s.get(ADMIN, "/v1/orgs/acme/teams/no-such-team")
            .await
            .status,
        404
    );

    // A team lead sees their own team, without provider cost, and no other.
    let lead = s
        .store
        .list_members("acme")
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.role == spendlens_store::model::Role::TeamLead)
        .unwrap();
    let own = lead.team_id.clone().unwrap();
    let t = s
        .token(
            ADMIN,
            json!({"role": "team_lead", "organization_id": "acme", "user_id": lead.user_id}),
        )
        .await;
    let mine = s
        .get(&t, &format!("/v1/orgs/acme/teams/{own}?{range}"))
        .await;
    assert_eq!(mine.status, 200, "{}", mine.body);
    assert!(
        mine.body["actual_api_cost"].is_null()
            && mine.body["series"][0]["actual_api_cost"].is_null()
    );
    let other = s
        .store
        .list_teams("acme")
        .await
        .unwrap()
        .into_iter()
        .find(|x| x.team_id != own)
        .unwrap();
    assert_eq!(
        s.get(&t, &format!("/v1/orgs/acme/teams/{}", other.team_id))
            .await
            .status,
        403
    );
    assert_eq!(
        s.get(&t, &format!("/v1/orgs/acme/api-keys/_none?{range}"))
            .await
            .status,
        403
    );
}

#[tokio::test]
async fn hour_series_are_dense_local_and_honest_about_dst() {
    let s = start().await;
    s.org("ny", "America/New_York", "1").await;
    let t = s
        .token(ADMIN, json!({"role": "ingest", "organization_id": "ny"}))
        .await;
    let evs = vec![
        common::event(
            "h1",
            json!({"occurred_at": "2026-11-01T05:30:00Z", "conversation_id": "c1"}),
        ), // 01:30 EDT
        common::event(
            "h2",
            json!({"occurred_at": "2026-11-01T06:30:00Z", "conversation_id": "c2"}),
        ), // 01:30 EST
        common::event(
            "h3",
            json!({"occurred_at": "2026-11-01T06:45:00Z", "conversation_id": "c2"}),
        ),
    ];
    assert_eq!(s.events(&t, &evs).await.body["accepted"], 3);
    let a = s
        .get(
            ADMIN,
            "/v1/orgs/ny/timeseries?bucket=hour&from=2026-11-01&to=2026-11-02",
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let data = a.body["data"].as_array().unwrap();
    assert_eq!(data.len(), 25, "the day DST ends has 25 hours");
    assert_eq!(data[0]["date"], "2026-11-01T00:00:00-04:00");
    assert_eq!(
        (data[1]["date"].as_str(), data[1]["messages"].as_u64()),
        (Some("2026-11-01T01:00:00-04:00"), Some(1))
    );
    assert_eq!(
        (data[2]["date"].as_str(), data[2]["messages"].as_u64()),
        (Some("2026-11-01T01:00:00-05:00"), Some(2))
    );
    assert_eq!(data[24]["date"], "2026-11-01T23:00:00-05:00");
    assert!(data[1]["active_users"].is_null() && data[1]["conversations"].is_null());
    let long = s
        .get(
            ADMIN,
            "/v1/orgs/ny/timeseries?bucket=hour&from=2026-10-01&to=2026-11-02",
        )
        .await;
    assert_eq!(
        (long.status, long.body["error"]["parameter"].as_str()),
        (400, Some("bucket"))
    );
}
