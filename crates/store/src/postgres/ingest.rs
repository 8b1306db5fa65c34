//! One ingestion transaction.
use super::ctx::Ctx;
use crate::contract::Result;
use crate::model::*;

pub async fn ingest(c: &mut Ctx, batches: Vec<IngestBatch>) -> Result<Vec<BatchOutcome>> { todo!() }
/// Add cell deltas to the cube, org_days and spend_days. Shared by ingestion, reprice, rebuild, erasure.
pub async fn add_cells(c: &mut sqlx::PgConnection, cells: &std::collections::HashMap<crate::aggregate::CellKey, crate::aggregate::CellDelta>) -> Result<()> { todo!() }
