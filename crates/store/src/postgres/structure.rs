//! Renames and deletions of teams and provider keys.
use super::ctx::Ctx;
use crate::contract::Result;
use crate::model::*;

pub async fn update_team(c: &mut Ctx, org: &str, team: &str, name: Option<String>, department: Option<Option<String>>, actor: &str) -> Result<Team> { todo!() }
pub async fn delete_team(c: &mut Ctx, org: &str, team: &str, actor: &str) -> Result<()> { todo!() }
pub async fn update_api_key(c: &mut Ctx, org: &str, key: &str, name: Option<String>, provider: Option<Option<String>>, actor: &str) -> Result<ApiKey> { todo!() }
pub async fn delete_api_key(c: &mut Ctx, org: &str, key: &str, actor: &str) -> Result<()> { todo!() }
