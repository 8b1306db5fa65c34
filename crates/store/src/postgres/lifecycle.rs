//! Retention, verify and rebuild.
use super::ctx::Ctx;
use crate::contract::Result;
use crate::model::*;
use spendlens_domain::time::Day;
use sqlx::PgConnection;

pub async fn retention_step(c: &mut Ctx, org: &str, before: i64, chunk: usize) -> Result<RetentionStep> { todo!() }
pub async fn verify(c: &mut PgConnection, org: &str, from: Day) -> Result<Vec<CellDiff>> { todo!() }
pub async fn rebuild(c: &mut Ctx, org: &str, from: Day, actor: &str) -> Result<u64> { todo!() }
