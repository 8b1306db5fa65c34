//! What a token may do: the one place that decides (API.md §1). Handlers ask
//! here before touching the store; none of them inspects a role itself.

use crate::auth::Principal;
use crate::error::ApiError;
use spendlens_store::model::{IngestScope, Role};

impl Principal {
    /// Events may be sent by ingest tokens and platform admins only.
    pub fn ingest_scope(&self) -> Result<IngestScope, ApiError> {
        match (self.role, &self.org) {
            (Role::Ingest, Some(org)) => Ok(IngestScope::Org(org.clone())),
            (Role::Ingest, None) | (Role::PlatformAdmin, _) => Ok(IngestScope::Platform),
            _ => Err(ApiError::Forbidden(
                "only ingest tokens and platform admins may send events".into(),
            )),
        }
    }

    pub fn require_platform_admin(&self) -> Result<(), ApiError> {
        if self.role == Role::PlatformAdmin {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                "this needs a platform_admin token".into(),
            ))
        }
    }

    /// Another organisation's data is 404 (its existence is not revealed);
    /// one's own organisation outside one's role is 403.
    pub fn require_org_admin(&self, org: &str) -> Result<(), ApiError> {
        if self.role == Role::PlatformAdmin {
            return Ok(());
        }
        if self.org.as_deref() != Some(org) {
            return Err(ApiError::NotFound(format!("organisation {org}")));
        }
        if self.role == Role::OrgAdmin {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                "this needs an org_admin token of this organisation".into(),
            ))
        }
    }

    /// The tokens `self` may create: platform admins any; org admins tokens
    /// of their own organisation up to org_admin.
    pub fn require_may_create_token(&self, role: Role, org: Option<&str>) -> Result<(), ApiError> {
        if self.role == Role::PlatformAdmin {
            return Ok(());
        }
        match (self.role, org) {
            (Role::OrgAdmin, Some(o))
                if self.org.as_deref() == Some(o) && role != Role::PlatformAdmin =>
            {
                Ok(())
            }
            (Role::OrgAdmin, Some(o)) if self.org.as_deref() != Some(o) => {
                Err(ApiError::NotFound(format!("organisation {o}")))
            }
            _ => Err(ApiError::Forbidden("you may not create this token".into())),
        }
    }

    /// Markup and prices are the platform admin's alone.
    pub fn require_may_set_markup(&self) -> Result<(), ApiError> {
        self.require_platform_admin().map_err(|_| {
            ApiError::Forbidden("only a platform admin sets markups and negotiated prices".into())
        })
    }
}

impl Principal {
    /// May this token see person `user` of `org` (their page, conversations)?
    /// `team_of_user` is the person's current team in `org`, if they are a member.
    pub fn require_may_see_user(
        &self,
        org: &str,
        user: &str,
        team_of_user: Option<&str>,
    ) -> Result<(), ApiError> {
        if self.role == Role::PlatformAdmin {
            return Ok(());
        }
        if self.org.as_deref() != Some(org) {
            return Err(ApiError::NotFound(format!("organisation {org}")));
        }
        let allowed = match self.role {
            Role::OrgAdmin => true,
            Role::TeamLead => {
                self.user.as_deref() == Some(user)
                    || (team_of_user.is_some() && team_of_user == self.team.as_deref())
            }
            Role::Member => self.user.as_deref() == Some(user),
            Role::Ingest | Role::PlatformAdmin => false,
        };
        if allowed {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "your token may not see {user}"
            )))
        }
    }

    /// Provider costs, profit and margin are for platform and org admins (API.md §1).
    pub fn sees_provider_cost(&self) -> bool {
        matches!(self.role, Role::PlatformAdmin | Role::OrgAdmin)
    }
}

impl Principal {
    /// A team's page: org admins, and the lead of that team.
    pub fn require_may_see_team(&self, org: &str, team: &str) -> Result<(), ApiError> {
        if self.role == Role::PlatformAdmin {
            return Ok(());
        }
        if self.org.as_deref() != Some(org) {
            return Err(ApiError::NotFound(format!("organisation {org}")));
        }
        match self.role {
            Role::OrgAdmin => Ok(()),
            Role::TeamLead if self.team.as_deref() == Some(team) => Ok(()),
            _ => Err(ApiError::Forbidden(format!(
                "your token may not see team {team}"
            ))),
        }
    }
}

impl Principal {
    /// `GET /v1/budget-check` (API.md §5): an ingest token for anyone of its
    /// organisation (a platform-wide one for any), a member or team lead only
    /// for themselves, org admins inside their organisation.
    pub fn require_may_check_budget(&self, org: &str, user: Option<&str>) -> Result<(), ApiError> {
        match self.role {
            Role::PlatformAdmin => Ok(()),
            Role::Ingest if self.org.is_none() => Ok(()),
            _ if self.org.as_deref() != Some(org) => {
                Err(ApiError::NotFound(format!("organisation {org}")))
            }
            Role::Ingest | Role::OrgAdmin => Ok(()),
            Role::TeamLead | Role::Member => match (user, self.user.as_deref()) {
                (Some(asked), Some(me)) if asked == me => Ok(()),
                _ => Err(ApiError::Forbidden(
                    "a member may check budgets only for themselves (user_id = your id)".into(),
                )),
            },
        }
    }
}

/// What team leads and members may not see (API.md §1), wherever it appears
/// in an answer: figures, `previous`, `change_pct`, series rows, messages.
const PROVIDER_COST_FIELDS: [&str; 3] = ["actual_api_cost", "profit", "margin"];

impl Principal {
    /// Null every provider-cost field of `answer`, at any depth, unless this
    /// token may see them. Handlers call it on the whole answer last.
    pub fn redact(&self, answer: &mut serde_json::Value) {
        if self.sees_provider_cost() {
            return;
        }
        match answer {
            serde_json::Value::Object(m) => {
                for (k, v) in m.iter_mut() {
                    if PROVIDER_COST_FIELDS.contains(&k.as_str()) {
                        *v = serde_json::Value::Null;
                    } else {
                        self.redact(v);
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(|v| self.redact(v)),
            _ => {}
        }
    }
}

/// Where a person lands after logging in to the dashboard: their own level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Landing {
    Platform,
    Org(String),
    Team(String, String),
    User(String, String),
}

impl Principal {
    /// Each role lands on its own level (API.md §7); ingest tokens and tokens
    /// that name no level of their role may not log in.
    pub fn landing(&self) -> Result<Landing, ApiError> {
        let refuse = |why: &str| Err(ApiError::Forbidden(why.into()));
        match (self.role, &self.org, &self.team, &self.user) {
            (Role::PlatformAdmin, ..) => Ok(Landing::Platform),
            (Role::OrgAdmin, Some(org), ..) => Ok(Landing::Org(org.clone())),
            (Role::TeamLead, Some(org), Some(team), _) => {
                Ok(Landing::Team(org.clone(), team.clone()))
            }
            (Role::Member | Role::TeamLead, Some(org), _, Some(user)) => {
                Ok(Landing::User(org.clone(), user.clone()))
            }
            (Role::Ingest, ..) => refuse("ingest tokens may only send events; they cannot log in"),
            _ => refuse("this token names no organisation, team or person to show"),
        }
    }

    /// May this token download the organisation-wide lists (the org page's CSV links)?
    pub fn may_see_org_lists(&self, org: &str) -> bool {
        self.require_org_admin(org).is_ok()
    }

    /// May this token open the platform page (and so see other organisations)?
    pub fn may_see_platform(&self) -> bool {
        self.require_platform_admin().is_ok()
    }
}
