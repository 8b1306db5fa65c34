//! Retained events streamed in batches for exports.
use crate::contract::Result;
use crate::model::*;
use crate::query::EventQuery;
use sqlx::PgConnection;

pub async fn stream(c: &mut PgConnection, q: &EventQuery, batch: usize, tx: tokio::sync::mpsc::Sender<Vec<StoredEvent>>) -> Result<()> { todo!() }
