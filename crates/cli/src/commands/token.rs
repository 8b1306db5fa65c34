//! `spendlens token create|list|revoke` on the local store: how the first
//! platform-admin token is made before any server runs.

use super::DbArgs;
use spendlens_server::routes::tokens::{issue, TokenRequest};

#[derive(Debug, clap::Subcommand)]
pub enum TokenCommand {
    /// Create a token; its secret is printed this once.
    Create {
        #[command(flatten)]
        db: DbArgs,
        /// platform_admin, org_admin, team_lead, member or ingest
        #[arg(long)]
        role: String,
        #[arg(long)]
        org: Option<String>,
        #[arg(long)]
        team: Option<String>,
        #[arg(long)]
        user: Option<String>,
        #[arg(long)]
        name: Option<String>,
        /// RFC 3339 timestamp after which the token stops working.
        #[arg(long)]
        expires_at: Option<String>,
    },
    /// List tokens (never their secrets).
    List {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        org: Option<String>,
    },
    /// Revoke a token by its id.
    Revoke {
        #[command(flatten)]
        db: DbArgs,
        id: String,
    },
}

const ACTOR: &str = "cli";

pub async fn run(cmd: TokenCommand) -> anyhow::Result<()> {
    match cmd {
        TokenCommand::Create {
            db,
            role,
            org,
            team,
            user,
            name,
            expires_at,
        } => {
            let store = db.open().await?;
            let req = TokenRequest {
                role,
                organization_id: org,
                team_id: team,
                user_id: user,
                name,
                expires_at,
            };
            let (record, secret) = issue(store.as_ref(), req, ACTOR)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            eprintln!(
                "created {} ({}); the secret is shown this once:",
                record.id,
                record.role.as_str()
            );
            println!("{secret}");
        }
        TokenCommand::List { db, org } => {
            let store = db.open().await?;
            for t in store.list_tokens(org.as_deref()).await? {
                let state = if t.revoked_at.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\tlast used {}",
                    t.id,
                    t.role.as_str(),
                    t.organization_id.as_deref().unwrap_or("-"),
                    t.user_id.as_deref().unwrap_or("-"),
                    t.name.as_deref().unwrap_or("-"),
                    state,
                    t.last_used_at
                        .map(|t| t.to_string())
                        .unwrap_or_else(|| "never".into())
                );
            }
        }
        TokenCommand::Revoke { db, id } => {
            let store = db.open().await?;
            store.revoke_token(&id, ACTOR).await?;
            println!("revoked {id}");
        }
    }
    Ok(())
}
