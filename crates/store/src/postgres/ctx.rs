//! A write transaction and the caches of ids it may use. The caches live as
//! long as the transaction: another server may create, rename or move things
//! at any moment, and a retried transaction starts clean.

pub use crate::rules::{KeyInfo, MemberInfo, OrgInfo, TeamInfo};
use sqlx::{Postgres, Transaction};
use std::collections::HashMap;

pub struct Ctx {
    pub tx: Transaction<'static, Postgres>,
    pub orgs: HashMap<String, OrgInfo>,
    pub users: HashMap<String, i64>,
    pub teams: HashMap<(i64, String), TeamInfo>,
    pub depts: HashMap<(i64, String), i64>,
    pub keys: HashMap<(i64, String), KeyInfo>,
    pub models: HashMap<String, i64>,
    pub providers: HashMap<String, i64>,
    pub members: HashMap<(i64, i64), MemberInfo>,
    /// Memberships first made in this transaction: (org, user, first team),
    /// inserted together at the flush.
    pub new_members: Vec<(i64, i64, Option<i64>)>,
    pub emails: HashMap<i64, String>,
}

impl Ctx {
    pub fn new(tx: Transaction<'static, Postgres>) -> Ctx {
        Ctx {
            tx,
            orgs: HashMap::new(),
            users: HashMap::new(),
            teams: HashMap::new(),
            depts: HashMap::new(),
            keys: HashMap::new(),
            models: HashMap::new(),
            providers: HashMap::new(),
            members: HashMap::new(),
            new_members: Vec::new(),
            emails: HashMap::new(),
        }
    }

    /// The connection of the transaction, for `.execute(c.conn())`.
    pub fn conn(&mut self) -> &mut sqlx::PgConnection {
        &mut self.tx
    }
}
