//! `spendlens budget set|list|delete` on the local store, with the API's
//! validation (the same function checks both).

use super::DbArgs;
use serde_json::json;
use spendlens_server::budgets::status::with_status;
use spendlens_server::routes::budgets::from_json;

const ACTOR: &str = "cli";

#[derive(Debug, clap::Subcommand)]
pub enum BudgetCommand {
    /// Create or replace a budget.
    Set {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        org: String,
        /// Its id (made up when absent).
        #[arg(long)]
        id: Option<String>,
        /// org, team, department, user or api_key
        #[arg(long)]
        scope: String,
        /// The team, department, user or key (not for org).
        #[arg(long)]
        scope_id: Option<String>,
        /// monthly, weekly or daily (in the organisation's timezone)
        #[arg(long, default_value = "monthly")]
        period: String,
        /// USD, e.g. 500 or 12.50
        #[arg(long)]
        amount: String,
        /// Comma-separated fractions, e.g. 0.5,0.8,1 (the default)
        #[arg(long, value_delimiter = ',')]
        thresholds: Option<Vec<String>>,
        /// Block calls (budget check) once the amount is reached.
        #[arg(long)]
        hard_limit: bool,
    },
    /// Budgets with their status now.
    List {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        org: String,
    },
    Delete {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        org: String,
        #[arg(long)]
        id: String,
    },
}

pub async fn run(cmd: BudgetCommand) -> anyhow::Result<()> {
    match cmd {
        BudgetCommand::Set {
            db,
            org,
            id,
            scope,
            scope_id,
            period,
            amount,
            thresholds,
            hard_limit,
        } => {
            let store = db.open().await?;
            let mut body = json!({"scope": scope, "scope_id": scope_id, "period": period,
                "amount": amount, "hard_limit": hard_limit});
            if let Some(t) = thresholds {
                body["alert_thresholds"] = json!(t);
            }
            let raw = body.to_string();
            let budget = from_json(store.as_ref(), &org, raw.as_bytes(), id.as_deref())
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let budget = store.put_budget(&org, budget, ACTOR).await?;
            let info = store.get_org(&org).await?;
            let shown = with_status(store.as_ref(), &info, &budget).await?;
            println!("{}", serde_json::to_string_pretty(&shown)?);
        }
        BudgetCommand::List { db, org } => {
            let store = db.open().await?;
            let info = store.get_org(&org).await?;
            println!("id\tscope\tperiod\tamount\tspent\tprojected\tstate");
            for b in store.list_budgets(&org).await? {
                let v = with_status(store.as_ref(), &info, &b).await?;
                let scope = match &b.scope_id {
                    Some(id) => format!("{}:{id}", v["scope"].as_str().unwrap_or("")),
                    None => "org".to_owned(),
                };
                println!(
                    "{}\t{scope}\t{}\t{}\t{}\t{}\t{}{}",
                    b.id,
                    v["period"].as_str().unwrap_or(""),
                    v["amount"].as_str().unwrap_or(""),
                    v["spent"].as_str().unwrap_or(""),
                    v["projected"].as_str().unwrap_or(""),
                    v["state"].as_str().unwrap_or(""),
                    if b.hard_limit { " (hard limit)" } else { "" }
                );
            }
        }
        BudgetCommand::Delete { db, org, id } => {
            db.open().await?.delete_budget(&org, &id, ACTOR).await?;
            println!("deleted budget {id} of {org}");
        }
    }
    Ok(())
}
