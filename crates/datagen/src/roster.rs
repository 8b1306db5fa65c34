//! The people, teams and provider keys of one organisation.

use crate::models::{Model, MODELS};
use crate::names;
use crate::world::{cumulative, pick, slug, Key, Org, Team, User, NONE, PROVIDERS};
use rand::rngs::SmallRng;
use rand::Rng;
use std::collections::HashSet;

pub fn add_keys(org: &mut Org, n: usize, n_models: u32, rng: &mut SmallRng) {
    let mut weights = Vec::with_capacity(n);
    for k in 0..n {
        let (name, provider, w) = match names::KEYS.get(k) {
            Some(&(name, p, w)) => (name.to_string(), p, w),
            None => {
                let p = PROVIDERS[k % 3];
                let label = ["OpenAI", "Claude", "Gemini"][k % 3];
                (format!("{label} Team {}", k / 3 + 1), p, 0.05)
            }
        };
        let provider = PROVIDERS.iter().position(|p| *p == provider).unwrap_or(0) as u8;
        org.keys.push(Key {
            id: format!("key-{}", slug(&name)),
            name,
            provider,
        });
        weights.push(w * rng.gen_range(0.7..1.3));
    }
    org.key_cum = cumulative(weights.into_iter());
    let usable: Vec<(usize, &Model)> = MODELS
        .iter()
        .enumerate()
        .take(n_models.max(1) as usize)
        .collect();
    for (p, name) in PROVIDERS.iter().enumerate() {
        let mut of_p: Vec<(usize, &Model)> = usable
            .iter()
            .copied()
            .filter(|(_, m)| m.provider == *name)
            .collect();
        if of_p.is_empty() {
            of_p = MODELS
                .iter()
                .enumerate()
                .filter(|(_, m)| m.provider == *name)
                .take(1)
                .collect();
        }
        let cum = cumulative(of_p.iter().map(|(_, m)| m.weight * rng.gen_range(0.5..1.5)));
        org.models[p] = of_p
            .iter()
            .zip(cum)
            .map(|((i, _), c)| (*i as u16, c))
            .collect();
    }
}

pub fn add_teams(org: &mut Org, org_index: usize, rng: &mut SmallRng) {
    let users = org.user_count as usize;
    let n = if org_index == 0 {
        (users / 12).clamp(4, 60)
    } else {
        (users / 10).clamp(1, 40)
    };
    let mut used = HashSet::new();
    let acme = if org_index == 0 {
        names::ACME_TEAMS
    } else {
        &[]
    };
    for &(id, name, dept) in acme.iter().take(n) {
        used.insert(name.to_string());
        org.teams.push(Team {
            id: id.into(),
            name: name.into(),
            department: dept.into(),
            lead: None,
        });
    }
    let offset = if org_index == 0 {
        0
    } else {
        rng.gen_range(0..names::TEAMS.len())
    };
    let mut k = 0;
    while org.teams.len() < n {
        let (base, dept) = names::TEAMS[(offset + k) % names::TEAMS.len()];
        let round = k / names::TEAMS.len();
        let name = if round == 0 {
            base.to_string()
        } else {
            format!("{base} {}", round + 1)
        };
        k += 1;
        if used.insert(name.clone()) {
            org.teams.push(Team {
                id: slug(&name),
                name,
                department: dept.into(),
                lead: None,
            });
        }
    }
}

pub fn add_users(
    org: &mut Org,
    org_idx: u32,
    days: u32,
    users: &mut Vec<User>,
    rng: &mut SmallRng,
) {
    let n = org.user_count as usize;
    let domain = format!("{}.com", org.id);
    let mut emails = HashSet::new();
    let team_cum = cumulative(org.teams.iter().map(|_| rng.gen_range(0.5..1.5)));
    let departments: Vec<String> = org.teams.iter().map(|t| t.department.clone()).collect();
    org.admin = n.saturating_sub(1).min(4) as u32;
    for r in 0..n {
        let first = match (org_idx, names::ACME_FIRST.get(r)) {
            (0, Some(f)) => *f,
            _ => names::FIRST[rng.gen_range(0..names::FIRST.len())],
        };
        let last = names::LAST[rng.gen_range(0..names::LAST.len())];
        let mut email = format!("{first}.{last}@{domain}");
        let mut k = 2;
        while !emails.insert(email.clone()) {
            email = format!("{first}.{last}{k}@{domain}");
            k += 1;
        }
        let steady = r < 3 || r as u32 == org.admin;
        // Everyone but the admin fills the teams in turn first, so no team is empty.
        let slot = if r as u32 > org.admin { r - 1 } else { r };
        let team = if r as u32 != org.admin && slot < org.teams.len() {
            slot as u16
        } else if !steady && rng.gen_bool(0.06) {
            NONE
        } else {
            pick(&team_cum, rng) as u16
        };
        let department = (team == NONE && rng.gen_bool(0.5))
            .then(|| departments[rng.gen_range(0..departments.len())].clone());
        let (mut first_day, mut last_day) = (0, days - 1);
        if !steady && days > 10 {
            match rng.gen_range(0..10) {
                0 => first_day = rng.gen_range(0..days * 4 / 5),
                1 => last_day = rng.gen_range(days / 5..days),
                _ => {}
            }
        }
        let pref_key = if org.keys.is_empty() {
            NONE
        } else {
            pick(&org.key_cum, rng) as u16
        };
        let mut pref_model = [0u16; 3];
        for (p, slot) in pref_model.iter_mut().enumerate() {
            let cum: Vec<f64> = org.models[p].iter().map(|x| x.1).collect();
            *slot = org.models[p][pick(&cum, rng)].0;
        }
        users.push(User {
            id: format!("u-{:06}", users.len() + 1),
            email,
            team,
            department,
            first_day,
            last_day,
            pref_key,
            pref_model,
        });
    }
    // Team leads: the second member of each team (the first if alone), never the admin.
    let start = org.user_start as usize;
    for (t, team) in org.teams.iter_mut().enumerate() {
        let members: Vec<u32> = (0..n as u32)
            .filter(|&r| r != org.admin && users[start + r as usize].team == t as u16)
            .take(2)
            .collect();
        team.lead = members.get(1).or(members.first()).copied();
    }
}
