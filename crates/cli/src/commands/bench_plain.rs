//! The original plan's approach, side by side in the same run (BENCH.md):
//! the same events loaded into one plain indexed table in the benchmark's
//! PostgreSQL database (`conversation_analytics`, the columns and indexes of
//! `bench/plain-postgres-load.sql`), and the plan's organisation-summary SQL
//! timed against the organisation summary endpoint.

use super::bench_query::pct;
use sqlx::Connection;
use std::time::Instant;

/// Load the plain table from the store's events, then time the plan's
/// queries for organisation `org`; `ours` holds spendlens' summary p50 in ms
/// for "this month" and "180 d".
pub async fn compare(
    db: &str,
    org: &str,
    anchor: jiff::civil::Date,
    reps: usize,
    ours: &[(&str, f64)],
) -> anyhow::Result<()> {
    let mut c = sqlx::PgConnection::connect(db).await?;
    let t = Instant::now();
    sqlx::raw_sql(
        "DROP TABLE IF EXISTS conversation_analytics;
         CREATE TABLE conversation_analytics (
           id bigserial primary key, organization_id int not null, user_id text not null,
           api_key_id int, model_name text not null, conversation_id text not null,
           started_at timestamptz not null, total_tokens_in int not null, total_tokens_out int not null,
           total_cost numeric(20,9) not null, actual_api_cost numeric(20,9) not null,
           profit_amount numeric(20,9) not null);
         INSERT INTO conversation_analytics (organization_id, user_id, api_key_id, model_name,
           conversation_id, started_at, total_tokens_in, total_tokens_out, total_cost,
           actual_api_cost, profit_amount)
         SELECT e.org, u.ext_id, NULLIF(e.key, 0), m.name, cv.ext_id,
           to_timestamp(e.occurred_at / 1e6), e.tokens_in, e.tokens_out, e.total_cost / 1e9,
           e.actual_cost / 1e9, (e.total_cost - e.actual_cost) / 1e9
         FROM events e JOIN users u ON u.id = e.usr JOIN models m ON m.id = e.model
           JOIN conversations cv ON cv.org = e.org AND cv.id = e.conv;
         CREATE INDEX ON conversation_analytics (organization_id);
         CREATE INDEX ON conversation_analytics (api_key_id);
         CREATE INDEX ON conversation_analytics (started_at);
         CREATE INDEX ON conversation_analytics (organization_id, started_at);
         ANALYZE conversation_analytics;",
    )
    .execute(&mut c)
    .await?;
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM conversation_analytics")
        .fetch_one(&mut c)
        .await?;
    eprintln!(
        "plain table: {rows} rows loaded and indexed in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let id: i64 = sqlx::query_scalar("SELECT id FROM orgs WHERE ext_id = $1")
        .bind(org)
        .fetch_one(&mut c)
        .await?;
    let queries = [
        (
            "this month",
            "started_at >= date_trunc('month', $2::timestamptz)",
        ),
        (
            "180 d",
            "started_at >= $2::timestamptz - interval '180 days'",
        ),
    ];
    println!(
        "\n| organisation summary, {org} | plain SQL p50 ms | p95 ms | spendlens summary p50 ms | ratio |\n|---|---|---|---|---|"
    );
    let at = format!("{anchor}T23:59:59Z");
    for (range, cond) in queries {
        let sql = format!(
            "SELECT organization_id, sum(total_cost), sum(profit_amount), count(distinct user_id), \
             count(distinct conversation_id), count(*) FROM conversation_analytics \
             WHERE organization_id = $1 AND {cond} GROUP BY 1"
        );
        let mut ms = Vec::with_capacity(reps);
        for i in 0..reps + 2 {
            let t = Instant::now();
            sqlx::query(&sql)
                .bind(id as i32)
                .bind(&at)
                .fetch_all(&mut c)
                .await?;
            if i >= 2 {
                ms.push(t.elapsed().as_secs_f64() * 1e3);
            }
        }
        ms.sort_by(f64::total_cmp);
        let mine = ours
            .iter()
            .find(|(r, _)| *r == range)
            .map_or(f64::NAN, |(_, v)| *v);
        println!(
            "| {range} | {:.1} | {:.1} | {mine:.1} | {:.0}× |",
            pct(&ms, 0.5),
            pct(&ms, 0.95),
            pct(&ms, 0.5) / mine.max(0.001)
        );
    }
    Ok(())
}
