use super::DbArgs;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub db: DbArgs,
}

/// Opening a store applies its migrations; say which the schema now has.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let store = args.db.open().await?;
    let orgs = store.list_orgs().await?;
    println!(
        "{}: schema up to date ({})",
        args.db.db,
        match store.backend() {
            "postgres" => spendlens_store::postgres::known_migrations(),
            _ => spendlens_store::sqlite::known_migrations(),
        }
        .join(", ")
    );
    println!("{} organisation(s)", orgs.len());
    Ok(())
}
