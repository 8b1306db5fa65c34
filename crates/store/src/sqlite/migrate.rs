//! Migrations, embedded in the binary and applied in order at open. The same
//! change carries the same migration name in every backend.

use rusqlite::Connection;

const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_init", include_str!("migrations/0001_init.sql")),
    (
        "0002_event_keys_log",
        include_str!("migrations/0002_event_keys_log.sql"),
    ),
    ("0003_budgets", include_str!("migrations/0003_budgets.sql")),
    (
        "0004_spend_days",
        include_str!("migrations/0004_spend_days.sql"),
    ),
    (
        "0005_org_days",
        include_str!("migrations/0005_org_days.sql"),
    ),
    (
        "0006_dim_days",
        include_str!("migrations/0006_dim_days.sql"),
    ),
    (
        "0007_person_cum",
        include_str!("migrations/0007_person_cum.sql"),
    ),
    ("0008_blocks", include_str!("migrations/0008_blocks.sql")),
    (
        "0009_cube_packs",
        include_str!("migrations/0009_cube_packs.sql"),
    ),
    (
        "0010_pack_seq",
        include_str!("migrations/0010_pack_seq.sql"),
    ),
    (
        "0011_pending_cells",
        include_str!("migrations/0011_pending_cells.sql"),
    ),
];

pub fn run(conn: &mut Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)",
    )?;
    for (name, sql) in MIGRATIONS {
        let done: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE name = ?1)",
            [name],
            |r| r.get(0),
        )?;
        if done {
            continue;
        }
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (name, applied_at) VALUES (?1, ?2)",
            rusqlite::params![name, super::now_us()],
        )?;
        tx.commit()?;
        tracing::info!(migration = name, "applied migration");
    }
    Ok(())
}

/// Names of the migrations this binary knows, for `spendlens migrate` output.
pub fn known() -> Vec<&'static str> {
    MIGRATIONS.iter().map(|(n, _)| *n).collect()
}
