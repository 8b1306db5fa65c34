//! Reads: organisations and their structure, tokens, audit, quarantine, and
//! the figures of API.md §3 from the cube.
use crate::contract::Result;
use crate::model::*;
use crate::query::{FigureQuery, GroupRow};
use sqlx::PgConnection;

pub async fn get_org(c: &mut PgConnection, org: &str) -> Result<Org> { todo!() }
pub async fn list_orgs(c: &mut PgConnection) -> Result<Vec<Org>> { todo!() }
pub async fn list_teams(c: &mut PgConnection, org: &str) -> Result<Vec<Team>> { todo!() }
pub async fn get_member(c: &mut PgConnection, org: &str, user: &str) -> Result<Member> { todo!() }
pub async fn list_members(c: &mut PgConnection, org: &str) -> Result<Vec<Member>> { todo!() }
pub async fn list_api_keys(c: &mut PgConnection, org: &str) -> Result<Vec<ApiKey>> { todo!() }
pub async fn find_token(c: &mut PgConnection, secret_hash: &str) -> Result<Option<TokenRecord>> { todo!() }
pub async fn list_tokens(c: &mut PgConnection, org: Option<&str>) -> Result<Vec<TokenRecord>> { todo!() }
pub async fn audit_log(c: &mut PgConnection, org: Option<&str>, limit: usize) -> Result<Vec<AuditEntry>> { todo!() }
pub async fn quarantined(c: &mut PgConnection) -> Result<Vec<QuarantinedEvent>> { todo!() }
pub async fn events(c: &mut PgConnection, org: &str) -> Result<Vec<StoredEvent>> { todo!() }
pub async fn figures(c: &mut PgConnection, q: &FigureQuery) -> Result<Vec<GroupRow>> { todo!() }
