//! `spendlens org|team|member|key …` on the local store: setting up an
//! organisation from the command line, with the same rules and audit log as
//! the HTTP API (actor `cli`).

use super::DbArgs;
use spendlens_domain::time::parse_timezone;
use spendlens_domain::Markup;
use spendlens_store::model::{Member, NewOrg, OrgPatch, Role, Team};

const ACTOR: &str = "cli";

#[derive(Debug, clap::Subcommand)]
pub enum OrgCommand {
    /// Create an organisation.
    Create {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: String,
        /// IANA timezone of its days.
        #[arg(long, default_value = "UTC")]
        timezone: String,
        /// What users are charged per dollar the provider bills.
        #[arg(long, default_value = "1")]
        markup: String,
        #[arg(long, default_value_t = 90)]
        retention_days: u32,
    },
    /// Change an organisation's name, timezone or markup.
    Update {
        #[command(flatten)]
        db: DbArgs,
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        timezone: Option<String>,
        #[arg(long)]
        markup: Option<String>,
    },
    /// List organisations.
    List {
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum TeamCommand {
    /// Create a team.
    Create {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        org: String,
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        department: Option<String>,
    },
    /// List an organisation's teams.
    List {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        org: String,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum MemberCommand {
    /// Add or change a member.
    Put {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        org: String,
        #[arg(long)]
        user: String,
        /// org_admin, team_lead or member
        #[arg(long, default_value = "member")]
        role: String,
        #[arg(long)]
        team: Option<String>,
        #[arg(long)]
        department: Option<String>,
        #[arg(long)]
        email: Option<String>,
    },
    /// Remove a member (their tokens are revoked).
    Remove {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        org: String,
        #[arg(long)]
        user: String,
    },
    /// List an organisation's members.
    List {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        org: String,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum KeyCommand {
    /// Register a provider key by its label (never its secret).
    Create {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        org: String,
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        provider: Option<String>,
    },
    /// List an organisation's provider keys.
    List {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        org: String,
    },
}

fn markup(text: &str) -> anyhow::Result<Markup> {
    Markup::parse(text).map_err(|e| anyhow::anyhow!("--markup {text}: {e}"))
}

fn timezone(text: &str) -> anyhow::Result<String> {
    parse_timezone(text).map_err(|_| anyhow::anyhow!("--timezone {text}: not an IANA timezone"))?;
    Ok(text.to_owned())
}

pub async fn org(cmd: OrgCommand) -> anyhow::Result<()> {
    match cmd {
        OrgCommand::Create {
            db,
            id,
            name,
            timezone: tz,
            markup: m,
            retention_days,
        } => {
            let store = db.open().await?;
            let org = store
                .create_org(
                    NewOrg {
                        id,
                        name,
                        timezone: timezone(&tz)?,
                        markup: markup(&m)?,
                        webhook_url: None,
                        retention_days,
                    },
                    ACTOR,
                )
                .await?;
            println!(
                "created organisation {} ({}, {}, markup {})",
                org.id,
                org.name,
                org.timezone,
                org.markup.to_decimal_string()
            );
        }
        OrgCommand::Update {
            db,
            id,
            name,
            timezone: tz,
            markup: m,
        } => {
            let store = db.open().await?;
            let patch = OrgPatch {
                name,
                timezone: tz.as_deref().map(timezone).transpose()?,
                markup: m.as_deref().map(markup).transpose()?,
                ..OrgPatch::default()
            };
            let org = store.update_org(&id, patch, ACTOR).await?;
            println!(
                "updated organisation {} ({}, {}, markup {})",
                org.id,
                org.name,
                org.timezone,
                org.markup.to_decimal_string()
            );
        }
        OrgCommand::List { db } => {
            for o in db.open().await?.list_orgs().await? {
                println!(
                    "{}\t{}\t{}\tmarkup {}\tretention {} d",
                    o.id,
                    o.name,
                    o.timezone,
                    o.markup.to_decimal_string(),
                    o.retention_days
                );
            }
        }
    }
    Ok(())
}

pub async fn team(cmd: TeamCommand) -> anyhow::Result<()> {
    match cmd {
        TeamCommand::Create {
            db,
            org,
            id,
            name,
            department,
        } => {
            let t = db
                .open()
                .await?
                .create_team(
                    &org,
                    Team {
                        team_id: id,
                        name,
                        department,
                    },
                    ACTOR,
                )
                .await?;
            println!("created team {} ({}) in {org}", t.team_id, t.name);
        }
        TeamCommand::List { db, org } => {
            for t in db.open().await?.list_teams(&org).await? {
                println!(
                    "{}\t{}\t{}",
                    t.team_id,
                    t.name,
                    t.department.as_deref().unwrap_or("-")
                );
            }
        }
    }
    Ok(())
}

pub async fn member(cmd: MemberCommand) -> anyhow::Result<()> {
    match cmd {
        MemberCommand::Put {
            db,
            org,
            user,
            role,
            team,
            department,
            email,
        } => {
            let role = match Role::parse(&role) {
                Some(r @ (Role::OrgAdmin | Role::TeamLead | Role::Member)) => r,
                _ => anyhow::bail!("--role {role}: org_admin, team_lead or member"),
            };
            if role == Role::TeamLead && team.is_none() {
                anyhow::bail!("a team_lead needs --team");
            }
            let m = Member {
                user_id: user,
                email,
                role,
                team_id: team,
                department,
                added_by_admin: true,
            };
            let m = db.open().await?.put_member(&org, m, ACTOR).await?;
            println!("{} is a {} of {org}", m.user_id, m.role.as_str());
        }
        MemberCommand::Remove { db, org, user } => {
            db.open().await?.delete_member(&org, &user, ACTOR).await?;
            println!("removed {user} from {org}; their tokens are revoked");
        }
        MemberCommand::List { db, org } => {
            for m in db.open().await?.list_members(&org).await? {
                println!(
                    "{}\t{}\t{}\t{}",
                    m.user_id,
                    m.role.as_str(),
                    m.team_id.as_deref().unwrap_or("-"),
                    m.email.as_deref().unwrap_or("-")
                );
            }
        }
    }
    Ok(())
}

pub async fn key(cmd: KeyCommand) -> anyhow::Result<()> {
    match cmd {
        KeyCommand::Create {
            db,
            org,
            id,
            name,
            provider,
        } => {
            let k = db
                .open()
                .await?
                .create_api_key(&org, &id, &name, provider.as_deref(), ACTOR)
                .await?;
            println!("registered key {} ({}) in {org}", k.api_key_id, k.name);
        }
        KeyCommand::List { db, org } => {
            for k in db.open().await?.list_api_keys(&org).await? {
                let state = if k.registered {
                    "registered"
                } else {
                    "seen in events"
                };
                println!(
                    "{}\t{}\t{}\t{state}",
                    k.api_key_id,
                    k.name,
                    k.provider.as_deref().unwrap_or("-")
                );
            }
        }
    }
    Ok(())
}
