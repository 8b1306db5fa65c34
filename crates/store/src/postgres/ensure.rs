//! The people, teams, provider keys, departments, models and providers a
//! batch names, created in a short transaction of their own before the
//! ingestion transaction.
//!
//! Created inside the ingestion transaction, a new person (or team…) that
//! both servers' batches name made the second server's insert wait on the
//! unique index until the first server's whole transaction committed: on
//! `medium` that wait was three quarters of all the waiting PostgreSQL saw
//! (sampled from `pg_stat_activity`). Here each is one sorted insert per
//! table, committed at once, so the ingestion transactions find them all.
//!
//! These rows are names, not usage: a person created here belongs to no
//! organisation until an accepted event (or an admin) makes them a member,
//! and shows in no figure. Creating one for an event that then turns out to
//! be a duplicate or is refused changes no answer. Memberships, which do
//! show, are still made in the ingestion transaction.

use super::db_err;
use super::{ctx::Ctx, now_us};
use crate::contract::Result;
use crate::model::IngestBatch;
use spendlens_domain::Catalog;
use std::collections::{BTreeMap, BTreeSet};

pub async fn names(c: &mut Ctx, batches: &[IngestBatch]) -> Result<()> {
    super::prefetch::batch_orgs(c, batches).await?;

    let catalog = Catalog::builtin();
    let mut users: BTreeMap<&str, Option<&str>> = BTreeMap::new();
    let (mut teams, mut depts) = (BTreeSet::new(), BTreeSet::new());
    let mut keys: BTreeMap<(i64, &str), Option<&str>> = BTreeMap::new();
    let (mut models, mut providers) = (BTreeSet::new(), BTreeSet::new());
    for batch in batches {
        for (_, e) in &batch.events {
            let Some(org) = super::prefetch::org_of(&batch.scope, e)
                .and_then(|ext| c.orgs.get(ext).map(|o| o.id))
            else {
                continue;
            };
            let email = users.entry(&e.user_id).or_default();
            if e.user_email.is_some() {
                *email = e.user_email.as_deref();
            }
            if let Some(t) = &e.team_id {
                teams.insert((org, t.as_str()));
            }
            if let Some(d) = &e.department {
                depts.insert((org, d.as_str()));
            }
            let provider = e
                .api_key_provider
                .as_deref()
                .or(catalog.provider_of(&e.model_name));
            if let Some(k) = &e.api_key_id {
                keys.entry((org, k.as_str())).or_insert(provider);
            }
            providers.extend(provider);
            models.insert(e.model_name.as_str());
        }
    }
    if users.is_empty() {
        return Ok(());
    }

    let (ext, email): (Vec<&str>, Vec<Option<&str>>) = users.into_iter().unzip();
    sqlx::query(
        "INSERT INTO users (ext_id, email) SELECT * FROM UNNEST($1::text[], $2::text[])
         ON CONFLICT (ext_id) DO NOTHING",
    )
    .bind(&ext)
    .bind(&email)
    .execute(&mut *c.tx)
    .await
    .map_err(db_err)?;

    let (org, ext): (Vec<i64>, Vec<&str>) = teams.into_iter().unzip();
    sqlx::query(
        "INSERT INTO teams (org, ext_id, name) SELECT o, e, e FROM UNNEST($1::bigint[], $2::text[]) AS u(o, e)
         ON CONFLICT (org, ext_id) DO NOTHING",
    )
    .bind(&org)
    .bind(&ext)
    .execute(&mut *c.tx)
    .await
    .map_err(db_err)?;

    let (org, name): (Vec<i64>, Vec<&str>) = depts.into_iter().unzip();
    sqlx::query(
        "INSERT INTO departments (org, name) SELECT * FROM UNNEST($1::bigint[], $2::text[])
         ON CONFLICT (org, name) DO NOTHING",
    )
    .bind(&org)
    .bind(&name)
    .execute(&mut *c.tx)
    .await
    .map_err(db_err)?;

    let (mut org, mut ext, mut provider) = (vec![], vec![], vec![]);
    for ((o, e), p) in keys {
        org.push(o);
        ext.push(e);
        provider.push(p);
    }
    sqlx::query(
        "INSERT INTO api_keys (org, ext_id, name, provider, registered, created_at)
         SELECT o, e, e, p, FALSE, $4 FROM UNNEST($1::bigint[], $2::text[], $3::text[]) AS u(o, e, p)
         ON CONFLICT (org, ext_id) DO NOTHING",
    )
    .bind(&org)
    .bind(&ext)
    .bind(&provider)
    .bind(now_us())
    .execute(&mut *c.tx)
    .await
    .map_err(db_err)?;

    for (table, names) in [("models", models), ("providers", providers)] {
        let names: Vec<&str> = names.into_iter().collect();
        sqlx::query(&format!(
            "INSERT INTO {table} (name) SELECT * FROM UNNEST($1::text[]) ON CONFLICT (name) DO NOTHING"
        ))
        .bind(&names)
        .execute(&mut *c.tx)
        .await
        .map_err(db_err)?;
    }
    Ok(())
}
