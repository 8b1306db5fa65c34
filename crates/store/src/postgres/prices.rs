//! Negotiated per-organisation prices.
use super::ctx::Ctx;
use crate::contract::Result;
use crate::model::*;
use jiff::Timestamp;
use sqlx::PgConnection;

pub async fn put(c: &mut Ctx, org: &str, model: &str, from: Timestamp, price: spendlens_domain::Price, actor: &str) -> Result<()> { todo!() }
pub async fn delete(c: &mut Ctx, org: &str, model: &str, actor: &str) -> Result<()> { todo!() }
pub async fn list(c: &mut PgConnection, org: &str) -> Result<Vec<NegotiatedPrice>> { todo!() }
