//! Per organisation and local day: the nine figures and the people bitmap.
use crate::aggregate::{CellDelta, CellKey};
use crate::contract::Result;
use crate::query::Figures;
use sqlx::PgConnection;
use std::collections::HashMap;

/// Fold the day cells of a transaction into org_days (locking each touched row).
pub async fn add_day_cells(c: &mut PgConnection, cells: &HashMap<CellKey, CellDelta>) -> Result<()> { todo!() }
/// (day, figures) of days [from, to), one row per day when `by_day`, else one total.
pub async fn figures(c: &mut PgConnection, org: i64, from: i32, to: i32, by_day: bool) -> Result<Vec<(i32, Figures)>> { todo!() }
