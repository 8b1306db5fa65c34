//! Query parameters shared by the analytics routes (API.md §4): the period in
//! the organisation's timezone, the filters, and list paging. Every problem is
//! a 400 naming the parameter; unknown parameters are refused too, so a typo
//! never silently widens a figure.

use crate::error::{ApiError, ApiResult};
use base64::Engine;
use jiff::Timestamp;
use serde_json::{json, Value};
use spendlens_domain::time::{parse_timezone, Day, Period, TimeError};
use spendlens_store::query::Filter;
use std::collections::HashMap;

pub const NONE_ID: &str = "_none";
pub const DEFAULT_LIMIT: usize = 25;
pub const MAX_LIMIT: usize = 100;

/// The raw query, consumed parameter by parameter.
pub struct Params(HashMap<String, String>);

impl Params {
    pub fn new(raw: HashMap<String, String>) -> Params {
        Params(raw)
    }

    pub fn take(&mut self, name: &str) -> Option<String> {
        self.0.remove(name)
    }

    /// After every known parameter was taken: anything left is a mistake.
    pub fn finish(self) -> ApiResult<()> {
        match self.0.keys().min() {
            Some(name) => Err(ApiError::param(name, format!("unknown parameter {name:?}"))),
            None => Ok(()),
        }
    }

    /// `from`/`to`/`period` resolved in `timezone` (API.md §3).
    pub fn period(&mut self, timezone: &str) -> ApiResult<Period> {
        let (from, to, period) = (self.take("from"), self.take("to"), self.take("period"));
        for (name, v) in [("from", &from), ("to", &to)] {
            if let Some(v) = v {
                Day::parse(v).map_err(|_| {
                    ApiError::param(name, format!("{v:?} is not a date of the form YYYY-MM-DD"))
                })?;
            }
        }
        let tz = parse_timezone(timezone)
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("stored timezone {timezone}: {e}")))?;
        let today = Day::from_date(Timestamp::now().to_zoned(tz).date());
        let p = Period::resolve(from.as_deref(), to.as_deref(), period.as_deref(), today).map_err(
            |e| {
                let name = match e {
                    TimeError::PeriodAndRange | TimeError::BadPeriod => "period",
                    TimeError::HalfRange if from.is_none() => "from",
                    _ => "to",
                };
                ApiError::param(name, e.to_string())
            },
        )?;
        if p.days() > 3660 {
            return Err(ApiError::param("to", "a period may span at most 10 years"));
        }
        Ok(p)
    }

    /// The six filters; `_none` asks for the null group.
    pub fn filter(&mut self) -> ApiResult<Filter> {
        let mut one = |name: &str| -> ApiResult<Option<Option<String>>> {
            Ok(match self.take(name) {
                None => None,
                Some(v) if v.is_empty() => return Err(ApiError::param(name, "is empty")),
                Some(v) if v == NONE_ID => Some(None),
                Some(v) => Some(Some(v)),
            })
        };
        Ok(Filter {
            user: one("user_id")?,
            team: one("team_id")?,
            department: one("department")?,
            api_key: one("api_key_id")?,
            model: one("model")?,
            provider: one("provider")?,
        })
    }

    /// `limit`: 1 to MAX_LIMIT, default DEFAULT_LIMIT.
    pub fn limit(&mut self) -> ApiResult<usize> {
        match self.take("limit") {
            None => Ok(DEFAULT_LIMIT),
            Some(l) => match l.parse::<usize>() {
                Ok(n @ 1..=MAX_LIMIT) => Ok(n),
                _ => Err(ApiError::param(
                    "limit",
                    format!("{l:?}: an integer from 1 to {MAX_LIMIT}"),
                )),
            },
        }
    }

    pub fn list(&mut self, sortable: &[&str], default_sort: &str) -> ApiResult<ListParams> {
        let sort = self.take("sort").unwrap_or_else(|| default_sort.to_owned());
        if !sortable.contains(&sort.as_str()) {
            return Err(ApiError::param(
                "sort",
                format!("cannot sort by {sort:?}; one of {}", sortable.join(", ")),
            ));
        }
        let descending = match self.take("order").as_deref() {
            // Names sort A to Z by default, figures largest first.
            None => !["user_id", "email", "name", "model", "department"].contains(&sort.as_str()),
            Some("desc") => true,
            Some("asc") => false,
            Some(o) => return Err(ApiError::param("order", format!("{o:?}: asc or desc"))),
        };
        let limit = self.limit()?;
        let cursor = self
            .take("cursor")
            .map(|c| Cursor::decode(&c))
            .transpose()?;
        let format = self
            .take("format")
            .map(|f| super::export::Format::parse(&f))
            .transpose()?;
        Ok(ListParams {
            sort,
            descending,
            limit,
            cursor,
            format,
        })
    }
}

#[derive(Debug)]
pub struct ListParams {
    pub sort: String,
    pub descending: bool,
    pub limit: usize,
    pub cursor: Option<Cursor>,
    /// A download of the whole list instead of a page.
    pub format: Option<super::export::Format>,
}

/// Where the previous page ended: the last row's sort value and id, and the
/// request it belongs to (a cursor from another period or sort is refused).
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    pub value: Value,
    pub id: String,
    pub pinned: String,
}

impl Cursor {
    /// Refuse a cursor handed out for another question (period, sort, filters).
    pub fn belongs_to(&self, pinned: &str) -> ApiResult<()> {
        if self.pinned == pinned {
            Ok(())
        } else {
            Err(ApiError::param(
                "cursor",
                "this cursor belongs to another question",
            ))
        }
    }

    /// The sort value of a cursor keyed by an instant (µs since the epoch).
    pub fn micros(&self) -> ApiResult<i64> {
        self.value
            .as_str()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| ApiError::param("cursor", "not a cursor this server gave out"))
    }

    pub fn encode(&self) -> String {
        let raw = json!([self.value, self.id, self.pinned]).to_string();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    }

    pub fn decode(text: &str) -> ApiResult<Cursor> {
        let bad = || ApiError::param("cursor", "not a cursor this server gave out");
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| bad())?;
        let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
        match v.as_array().map(Vec::as_slice) {
            Some([value, Value::String(id), Value::String(pinned)]) => Ok(Cursor {
                value: value.clone(),
                id: id.clone(),
                pinned: pinned.clone(),
            }),
            _ => Err(bad()),
        }
    }
}

/// The query string as a map, like axum's `Query`, except that a parameter
/// given twice is a 400 (never silently last-one-wins) and every problem is
/// the API's JSON error.
pub struct Query<T>(pub T);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Query<HashMap<String, String>> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(parts.uri.query().unwrap_or("")).map_err(|e| {
                ApiError::bad(
                    "invalid_parameter",
                    format!("the query string cannot be read: {e}"),
                )
            })?;
        let mut map = HashMap::with_capacity(pairs.len());
        for (k, v) in pairs {
            if map.insert(k.clone(), v).is_some() {
                return Err(ApiError::param(&k, format!("{k} is given more than once")));
            }
        }
        Ok(Query(map))
    }
}
