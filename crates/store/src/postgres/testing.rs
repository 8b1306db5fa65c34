//! Throw-away databases for tests: each test gets its own, on the server
//! `SPENDLENS_TEST_PG` names (default postgres://root@127.0.0.1:5432/postgres),
//! dropped when the guard goes.

use sqlx::Connection;

pub struct TestDb {
    pub url: String,
    admin_url: String,
    name: String,
}

fn admin_url() -> String {
    std::env::var("SPENDLENS_TEST_PG")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/postgres".into())
}

/// A new empty database, or None when no PostgreSQL answers and the
/// environment does not require one (`SPENDLENS_REQUIRE_PG=1` turns that
/// into a failure, as CI sets it).
pub async fn create() -> Option<TestDb> {
    let admin = admin_url();
    if let Err(e) = sqlx::PgConnection::connect(&admin).await {
        if std::env::var("SPENDLENS_REQUIRE_PG").as_deref() == Ok("1") {
            panic!("PostgreSQL is required (SPENDLENS_REQUIRE_PG=1) but {admin} refused: {e}");
        }
        eprintln!("SKIPPED: no PostgreSQL at {admin} ({e}); set SPENDLENS_TEST_PG");
        return None;
    }
    match create_on(&admin).await {
        Ok(db) => Some(db),
        Err(e) => panic!("cannot create a test database on {admin}: {e}"),
    }
}

/// A new empty database on the server `admin` names (a URL whose role may
/// create databases), dropped when the returned guard goes. Benchmarks use
/// it for a fresh database per run.
pub async fn create_on(admin: &str) -> Result<TestDb, sqlx::Error> {
    let mut c = sqlx::PgConnection::connect(admin).await?;
    let name = format!(
        "spendlens_test_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
    );
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut c)
        .await?;
    Ok(TestDb {
        url: url_of(admin, &name),
        admin_url: admin.to_owned(),
        name,
    })
}

/// The database `name` on the server `admin` names, for a benchmark that
/// keeps its loaded store between runs: made empty when `fresh` (dropped
/// first if a run left it half loaded), else used as it is. Never dropped
/// by spendlens.
pub async fn kept_on(admin: &str, name: &str, fresh: bool) -> Result<String, sqlx::Error> {
    let mut c = sqlx::PgConnection::connect(admin).await?;
    if fresh {
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut c)
            .await?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut c)
            .await?;
    }
    Ok(url_of(admin, name))
}

/// The URL of database `name` on the server `admin` names.
fn url_of(admin: &str, name: &str) -> String {
    let base = admin.rsplit_once('/').map_or(admin, |(b, _)| b);
    format!("{base}/{name}")
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (admin, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs inside or outside a runtime: use a thread of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                if let Ok(mut c) = sqlx::PgConnection::connect(&admin).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut c)
                        .await;
                }
            });
        })
        .join();
    }
}
