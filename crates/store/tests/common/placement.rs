//! What the store must have kept for each event sent, worked out from the
//! setup and the price catalog, not from the store.

use super::*;

fn round_div(n: i128, d: i128) -> i128 {
    // halves away from zero
    let q = n / d;
    let r = n % d;
    if 2 * r.abs() >= d {
        q + n.signum()
    } else {
        q
    }
}

/// What the store must have kept for each first-sent event: organisation
/// from the sender, civil day in the organisation's zone, team / department
/// / provider defaults of API.md §2 from the setup, costs from the client or
/// the catalog and markup. Asserts every stored event equals it and nothing
/// else is stored.
pub fn check_placement(setup: &Setup, sent: &[Sent], stored: &HashMap<String, Vec<StoredEvent>>) {
    let catalog = Catalog::builtin();
    let mut want: HashMap<(String, String), StoredEvent> = HashMap::new();
    let mut key_provider: HashMap<(String, String), Option<String>> = HashMap::new();
    for org in &setup.orgs {
        for k in &org.keys {
            key_provider.insert((org.id.clone(), k.id.clone()), Some(k.provider.clone()));
        }
    }
    for s in sent {
        let e = &s.event;
        if want.contains_key(&(s.org.clone(), e.event_id.clone())) {
            continue; // a retry: the first stays
        }
        let org = setup.orgs.iter().find(|o| o.id == s.org).unwrap();
        let member = org.members.iter().find(|m| m.user_id == e.user_id);
        let team = e.team_id.clone().or(member.and_then(|m| m.team_id.clone()));
        let team_dept = team
            .as_ref()
            .and_then(|t| org.teams.iter().find(|x| &x.id == t))
            .and_then(|t| t.department.clone());
        let department = e
            .department
            .clone()
            .or(member.and_then(|m| m.department.clone()))
            .or(team_dept);
        let catalog_provider = catalog.provider_of(&e.model_name).map(str::to_owned);
        let key_prov = e.api_key_id.as_ref().and_then(|k| {
            key_provider
                .entry((s.org.clone(), k.clone()))
                .or_insert_with(|| e.api_key_provider.clone().or(catalog_provider.clone()))
                .clone()
        });
        let provider = e.api_key_provider.clone().or(key_prov).or(catalog_provider);
        let price = catalog
            .lookup(&e.model_name, e.occurred_at)
            .map(|c| c.price);
        let (actual, unpriced) = match (e.actual_api_cost, price) {
            (Some(a), _) => (a.0, false),
            (None, Some(p)) => {
                let uncached = e.tokens_in - e.cached_tokens_in - e.cache_write_tokens_in;
                let sum = i128::from(uncached) * i128::from(p.input)
                    + i128::from(e.cached_tokens_in)
                        * i128::from(p.cached_input.unwrap_or(p.input))
                    + i128::from(e.cache_write_tokens_in)
                        * i128::from(p.cache_write.unwrap_or(p.input))
                    + i128::from(e.tokens_out) * i128::from(p.output);
                (round_div(sum, 1_000_000) as i64, false)
            }
            (None, None) => (0, true),
        };
        let markup = Markup::parse(&org.markup).unwrap().0;
        let total = match e.total_cost {
            Some(t) => t.0,
            None => round_div(i128::from(actual) * i128::from(markup), 1_000_000_000) as i64,
        };
        want.insert(
            (s.org.clone(), e.event_id.clone()),
            StoredEvent {
                organization_id: s.org.clone(),
                event_id: e.event_id.clone(),
                occurred_at: e.occurred_at,
                day: local_day(e.occurred_at, &org.timezone),
                user_id: e.user_id.clone(),
                team_id: team,
                department,
                api_key_id: e.api_key_id.clone(),
                provider,
                model: e.model_name.clone(),
                conversation_id: e.conversation_id.clone(),
                tokens_in: e.tokens_in,
                tokens_out: e.tokens_out,
                cached_tokens_in: e.cached_tokens_in,
                cache_write_tokens_in: e.cache_write_tokens_in,
                total_cost: total,
                actual_api_cost: actual,
                unpriced,
            },
        );
    }
    let mut n = 0;
    for (org, events) in stored {
        for got in events {
            let w = want
                .get(&(org.clone(), got.event_id.clone()))
                .unwrap_or_else(|| panic!("stored but never sent: {got:?}"));
            assert_eq!(got, w, "stored event differs from what was sent");
            n += 1;
        }
    }
    assert_eq!(n, want.len(), "every distinct event stored exactly once");
}
