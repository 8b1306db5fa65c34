//! Recompute server-computed costs with today's prices; correct the aggregates.
use super::ctx::Ctx;
use crate::contract::Result;
use crate::model::*;
use spendlens_domain::time::Day;

pub async fn reprice(c: &mut Ctx, org: &str, from: Day, to: Day, actor: &str) -> Result<Repriced> { todo!() }
