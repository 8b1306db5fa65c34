//! Erasure of a person from an organisation.
use super::ctx::Ctx;
use crate::contract::Result;
use crate::model::*;

pub async fn erase_user(c: &mut Ctx, org: &str, user: &str, pseudonym: &str, actor: &str) -> Result<Erasure> { todo!() }
