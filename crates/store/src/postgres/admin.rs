//! Administration writes: organisations, members, keys, tokens (with audit).
use super::ctx::Ctx;
use crate::contract::Result;
use crate::model::*;
use jiff::Timestamp;

pub async fn create_org(c: &mut Ctx, org: NewOrg, actor: &str) -> Result<Org> { todo!() }
pub async fn update_org(c: &mut Ctx, org: &str, patch: OrgPatch, actor: &str) -> Result<Org> { todo!() }
pub async fn create_team(c: &mut Ctx, org: &str, team: Team, actor: &str) -> Result<Team> { todo!() }
pub async fn put_member(c: &mut Ctx, org: &str, member: Member, actor: &str) -> Result<Member> { todo!() }
pub async fn delete_member(c: &mut Ctx, org: &str, user: &str, actor: &str) -> Result<()> { todo!() }
pub async fn create_api_key(c: &mut Ctx, org: &str, id: &str, name: &str, provider: Option<&str>, actor: &str) -> Result<ApiKey> { todo!() }
pub async fn create_token(c: &mut Ctx, token: NewToken, actor: &str) -> Result<TokenRecord> { todo!() }
pub async fn touch_token(c: &mut Ctx, id: &str, at: Timestamp) -> Result<()> { todo!() }
pub async fn revoke_token(c: &mut Ctx, id: &str, actor: &str) -> Result<()> { todo!() }
