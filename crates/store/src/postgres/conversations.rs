//! A user's conversations and one conversation's messages.
use crate::contract::Result;
use crate::model::*;
use spendlens_domain::time::Period;
use sqlx::PgConnection;

pub async fn of_user(c: &mut PgConnection, org: &str, user: &str, period: Period) -> Result<Vec<ConversationSummary>> { todo!() }
pub async fn detail(c: &mut PgConnection, org: &str, conv: &str) -> Result<ConversationDetail> { todo!() }
