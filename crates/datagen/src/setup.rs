//! The organisations, teams, members and keys a dataset's events refer to, as
//! an administrator would create them before ingesting.

use crate::world::{World, NONE, PROVIDERS};
use crate::Spec;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Setup {
    pub orgs: Vec<OrgSetup>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgSetup {
    pub id: String,
    pub name: String,
    /// IANA name.
    pub timezone: String,
    /// Decimal, e.g. "1.25".
    pub markup: String,
    pub teams: Vec<TeamSetup>,
    pub members: Vec<MemberSetup>,
    pub keys: Vec<KeySetup>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamSetup {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberSetup {
    pub user_id: String,
    pub email: String,
    /// `org_admin`, `team_lead` or `member`.
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeySetup {
    pub id: String,
    pub name: String,
    pub provider: String,
}

/// Every organisation of the spec with its teams, members (each person in
/// exactly one organisation: one `org_admin`, a `team_lead` per team, the
/// rest `member`) and provider keys.
pub fn setup(spec: &Spec) -> Setup {
    setup_of(&World::new(spec))
}

pub(crate) fn setup_of(world: &World) -> Setup {
    let orgs = world
        .orgs
        .iter()
        .map(|org| {
            let start = org.user_start as usize;
            let people = &world.users[start..start + org.user_count as usize];
            let members = people
                .iter()
                .enumerate()
                .map(|(r, u)| {
                    let r = r as u32;
                    let role = if r == org.admin {
                        "org_admin"
                    } else if org.teams.iter().any(|t| t.lead == Some(r)) {
                        "team_lead"
                    } else {
                        "member"
                    };
                    MemberSetup {
                        user_id: u.id.clone(),
                        email: u.email.clone(),
                        role: role.into(),
                        team_id: (u.team != NONE).then(|| org.teams[u.team as usize].id.clone()),
                        department: u.department.clone(),
                    }
                })
                .collect();
            OrgSetup {
                id: org.id.clone(),
                name: org.name.clone(),
                timezone: org.tz_name.clone(),
                markup: org.markup.clone(),
                teams: org
                    .teams
                    .iter()
                    .map(|t| TeamSetup {
                        id: t.id.clone(),
                        name: t.name.clone(),
                        department: Some(t.department.clone()),
                    })
                    .collect(),
                members,
                keys: org
                    .keys
                    .iter()
                    .map(|k| KeySetup {
                        id: k.id.clone(),
                        name: k.name.clone(),
                        provider: PROVIDERS[k.provider as usize].into(),
                    })
                    .collect(),
            }
        })
        .collect();
    Setup { orgs }
}
