//! Placing quarantined events.
use super::ctx::Ctx;
use crate::contract::Result;
use crate::model::*;

pub async fn backfill(c: &mut Ctx, actor: &str) -> Result<BackfillOutcome> { todo!() }
