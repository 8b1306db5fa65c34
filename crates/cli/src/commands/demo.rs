//! `spendlens demo`: a deterministic, realistic dataset (Acme Corp and five
//! other organisations, 90 days) in an embedded store, a token per role,
//! then the server.

use super::gen::today_utc;
use super::{shutdown_signal, state};
use crate::summary::Totals;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;
use spendlens_datagen::{events, setup, Spec};
use spendlens_domain::Markup;
use spendlens_server::routes::events::{ingest_items, Items};
use spendlens_server::routes::tokens::{issue, TokenRequest};
use spendlens_server::AppState;
use spendlens_store::model::{IngestScope, Member, NewOrg, Role, Team};
use spendlens_store::Store;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The demo's own store; made on first run, reused after.
    #[arg(long, default_value = "sqlite://spendlens-demo.db")]
    pub db: String,
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// The last day of the data (default: today, UTC).
    #[arg(long)]
    pub anchor: Option<jiff::civil::Date>,
    /// Load and print the tokens, then exit instead of serving.
    #[arg(long)]
    pub no_serve: bool,
}

const ACTOR: &str = "demo";

pub async fn run(args: Args) -> anyhow::Result<()> {
    let store = spendlens_store::open(&args.db, spendlens_store::Durability::Process)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", args.db))?;
    let app = state(store.clone(), None);
    let spec = Spec::demo(args.anchor.unwrap_or_else(today_utc));
    if store.list_orgs().await?.is_empty() {
        create_structure(store.as_ref(), &spec).await?;
        load_events(&app, &spec).await?;
    } else {
        println!(
            "{} already holds the demo data; delete it to generate afresh",
            args.db
        );
    }
    let tokens = make_tokens(store.as_ref(), &spec).await?;
    let listener = if args.no_serve {
        None
    } else {
        Some(tokio::net::TcpListener::bind(&args.listen).await?)
    };
    let base = match &listener {
        Some(l) => format!("http://{}", l.local_addr()?),
        None => format!("http://{}", args.listen),
    };
    if args.no_serve {
        println!(
            "\nspendlens demo — loaded; serve it with: spendlens serve --db {}\n",
            args.db
        );
    } else {
        println!("\nspendlens demo — {base}\n");
    }
    for (what, secret) in &tokens {
        println!("  {what:<44} {secret}");
    }
    let (_, admin) = &tokens[1];
    if !args.no_serve {
        println!("\ndashboard: {base}/login — paste one of the tokens above");
    }
    println!("\ntry:\n  curl -H 'Authorization: Bearer {admin}' '{base}/v1/orgs/acme/summary?period=last_30d'\n");
    if let Some(listener) = listener {
        spendlens_server::serve(listener, app, shutdown_signal()).await?;
    }
    Ok(())
}

async fn create_structure(store: &dyn Store, spec: &Spec) -> anyhow::Result<()> {
    for org in setup(spec).orgs {
        let markup = Markup::parse(&org.markup)
            .map_err(|e| anyhow::anyhow!("markup {}: {e}", org.markup))?;
        let new = NewOrg {
            id: org.id.clone(),
            name: org.name,
            timezone: org.timezone,
            markup,
            webhook_url: None,
            retention_days: 365,
        };
        store.create_org(new, ACTOR).await?;
        for t in org.teams {
            store
                .create_team(
                    &org.id,
                    Team {
                        team_id: t.id,
                        name: t.name,
                        department: t.department,
                    },
                    ACTOR,
                )
                .await?;
        }
        for m in org.members {
            let role = Role::parse(&m.role).ok_or_else(|| anyhow::anyhow!("role {}", m.role))?;
            let member = Member {
                user_id: m.user_id,
                email: Some(m.email),
                role,
                team_id: m.team_id,
                department: m.department,
                added_by_admin: true,
            };
            store.put_member(&org.id, member, ACTOR).await?;
        }
        for k in org.keys {
            store
                .create_api_key(&org.id, &k.id, &k.name, Some(&k.provider), ACTOR)
                .await?;
        }
    }
    Ok(())
}

async fn load_events(app: &AppState, spec: &Spec) -> anyhow::Result<()> {
    let bar = ProgressBar::new(spec.events).with_style(
        ProgressStyle::with_template("loading events [{bar:30}] {pos}/{len} {per_sec}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut totals = Totals::default();
    let mut chunk: Items = Vec::with_capacity(10_000);
    let mut all = events(spec).peekable();
    while all.peek().is_some() {
        chunk.extend(all.by_ref().take(10_000).map(Ok::<Value, _>));
        let n = chunk.len() as u64;
        let outcome = ingest_items(app, IngestScope::Platform, std::mem::take(&mut chunk))
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        totals.add("demo", &[], &outcome.into());
        bar.inc(n);
    }
    bar.finish_and_clear();
    totals.print();
    println!("(the duplicates are the generator's simulated client retries: stored once, as a replay should be)");
    Ok(())
}

/// A token per role, the people chosen from Acme's roster.
async fn make_tokens(store: &dyn Store, spec: &Spec) -> anyhow::Result<Vec<(String, String)>> {
    let acme = setup(spec)
        .orgs
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("the demo has no organisation"))?;
    let first = |role: &str| {
        acme.members
            .iter()
            .find(|m| m.role == role)
            .map(|m| m.user_id.clone())
    };
    let wanted: Vec<(&str, Option<String>, Option<String>)> = vec![
        ("platform_admin", None, None),
        ("org_admin", Some(acme.id.clone()), first("org_admin")),
        ("team_lead", Some(acme.id.clone()), first("team_lead")),
        ("member", Some(acme.id.clone()), first("member")),
        ("ingest", Some(acme.id.clone()), None),
    ];
    let mut out = Vec::new();
    for (role, org, user) in wanted {
        let label = match (&org, &user) {
            (Some(o), Some(u)) => format!("{role} ({o}, {u})"),
            (Some(o), None) => format!("{role} ({o})"),
            _ => role.to_owned(),
        };
        let req = TokenRequest {
            role: role.into(),
            organization_id: org,
            team_id: None,
            user_id: user,
            name: Some(format!("demo {role}")),
            expires_at: None,
        };
        let (_, secret) = issue(store, req, ACTOR)
            .await
            .map_err(|e| anyhow::anyhow!("{role} token: {e}"))?;
        out.push((label, secret));
    }
    Ok(out)
}
