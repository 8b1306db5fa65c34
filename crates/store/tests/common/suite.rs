//! The query sets the store suites run against the oracle.

use super::*;
use spendlens_store::query::GroupRow;

/// "Now" for parsing generated events: the day after the anchor, so the
/// tests never depend on the clock.
pub fn now_after(anchor: jiff::civil::Date) -> Timestamp {
    anchor
        .tomorrow()
        .unwrap()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .unwrap()
        .timestamp()
}

pub fn one_day(d: Day) -> Period {
    Period {
        from: d,
        to: Day(d.0 + 1),
    }
}

/// The filters worth asking of an organisation: the null groups it has, its
/// busiest user / team / department / key / model / provider, combinations,
/// and a value that names nothing.
pub fn filters(o: &Oracle) -> Vec<Filter> {
    let none = Filter::default;
    let mut out = Vec::new();
    if o.has_null(Dim::ApiKey) {
        out.push(Filter {
            api_key: Some(None),
            ..none()
        });
    }
    if o.has_null(Dim::Team) {
        out.push(Filter {
            team: Some(None),
            ..none()
        });
    }
    if o.has_null(Dim::Department) {
        out.push(Filter {
            department: Some(None),
            ..none()
        });
    }
    if o.has_null(Dim::Provider) {
        out.push(Filter {
            provider: Some(None),
            ..none()
        });
    }
    out.push(Filter {
        user: o.busiest(Dim::User, false),
        ..none()
    });
    out.push(Filter {
        team: o.busiest(Dim::Team, false),
        ..none()
    });
    out.push(Filter {
        department: o.busiest(Dim::Department, false),
        ..none()
    });
    out.push(Filter {
        api_key: o.busiest(Dim::ApiKey, false),
        ..none()
    });
    out.push(Filter {
        model: o.busiest(Dim::Model, false),
        provider: o.busiest(Dim::Provider, false),
        ..none()
    });
    out.push(Filter {
        user: o.busiest(Dim::User, false),
        api_key: Some(None),
        ..none()
    });
    out.push(Filter {
        team: Some(Some("no-such-team".into())),
        ..none()
    });
    out
}

/// Queries for one organisation: every group-by of 0–2 dimensions without a
/// filter over the `full` periods; no group, each single dimension and two
/// pairs with each filter over every period; local hours over `hourly`.
pub fn queries(
    o: &Oracle,
    full: &[Period],
    periods: &[Period],
    hourly: &[Period],
) -> Vec<FigureQuery> {
    let singles = || group_bys().into_iter().take(10);
    let mut out = Vec::new();
    for p in full {
        for g in group_bys() {
            out.push(query(&o.org, *p, Filter::default(), g));
        }
        // The order of the dimensions is the order of the key.
        out.push(query(
            &o.org,
            *p,
            Filter::default(),
            vec![Dim::Month, Dim::User],
        ));
        out.push(query(
            &o.org,
            *p,
            Filter::default(),
            vec![Dim::Week, Dim::ApiKey],
        ));
    }
    for p in periods {
        if !full.contains(p) {
            out.extend(singles().map(|g| query(&o.org, *p, Filter::default(), g)));
        }
        for f in filters(o) {
            out.extend(singles().map(|g| query(&o.org, *p, f.clone(), g)));
            out.push(query(&o.org, *p, f.clone(), vec![Dim::Day, Dim::Model]));
            out.push(query(&o.org, *p, f.clone(), vec![Dim::Month, Dim::ApiKey]));
        }
    }
    for p in hourly {
        out.push(query(&o.org, *p, Filter::default(), vec![Dim::Hour]));
        out.push(query(
            &o.org,
            *p,
            Filter::default(),
            vec![Dim::Hour, Dim::Model],
        ));
        for f in filters(o).into_iter().take(2) {
            out.push(query(&o.org, *p, f, vec![Dim::Hour]));
        }
    }
    out
}

/// Run every query against the oracle, a few at a time. Returns the number
/// of groups compared.
pub async fn check_all(
    store: &Arc<dyn Store>,
    oracle: &Arc<Oracle>,
    qs: Vec<FigureQuery>,
) -> usize {
    let mut groups = 0;
    let mut qs = qs.into_iter();
    loop {
        let mut set = tokio::task::JoinSet::new();
        for q in qs.by_ref().take(4) {
            let (s, o) = (store.clone(), oracle.clone());
            set.spawn(async move { check(s.as_ref(), &o, &q).await });
        }
        if set.is_empty() {
            break;
        }
        while let Some(n) = set.join_next().await {
            groups += n.unwrap();
        }
    }
    groups
}

/// Figures to compare before and after replays: each single dimension.
pub async fn snapshot(store: &dyn Store, orgs: &[String], p: Period) -> Vec<Vec<GroupRow>> {
    let mut out = Vec::new();
    for org in orgs {
        for g in group_bys().into_iter().take(10) {
            let mut rows = store
                .figures(&query(org, p, Filter::default(), g))
                .await
                .unwrap();
            rows.sort_by(|a, b| a.key.cmp(&b.key));
            out.push(rows);
        }
    }
    out
}

pub fn distinct(sent: &[Sent]) -> usize {
    sent.iter()
        .map(|s| (s.org.as_str(), s.event.event_id.as_str()))
        .collect::<HashSet<_>>()
        .len()
}

/// Every group-by of 0–2 dimensions and a few filters, over `periods`, for
/// one hand-made organisation.
pub async fn check_org(store: &Arc<dyn Store>, org: &str, tz: &str, periods: &[Period]) {
    let raw = store.events(org).await.unwrap();
    let oracle = Arc::new(Oracle::new(org, tz, &raw));
    let qs = queries(&oracle, periods, periods, periods);
    check_all(store, &oracle, qs).await;
}

pub fn by_first_key(rows: Vec<GroupRow>) -> BTreeMap<Option<String>, (u64, u64)> {
    rows.into_iter()
        .map(|r| {
            (
                r.key[0].clone(),
                (r.figures.messages, r.figures.conversations),
            )
        })
        .collect()
}

pub fn s(v: &str) -> Option<String> {
    Some(v.to_owned())
}
