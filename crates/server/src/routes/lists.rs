//! The organisation-wide lists of API.md §4 (users, API keys, models, teams,
//! departments, breakdown) and the dense time series. Each is one grouped
//! `FigureQuery`, joined with names, sorted and paged by a keyset cursor.

use super::export;
use super::params::Query;
use super::params::{Cursor, ListParams, Params, NONE_ID};
use super::summary::figures_json;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::AppState;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use spendlens_domain::money::{div_round, format_usd};
use spendlens_domain::time::{Day, Period};
use spendlens_domain::Catalog;
use spendlens_store::model::{Member, Org};
use spendlens_store::query::{Dim, FigureQuery, Figures, Filter, GroupRow, IdGroups};
use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/orgs/{org}/users", get(users))
        .route("/v1/orgs/{org}/api-keys", get(api_keys))
        .route("/v1/orgs/{org}/models", get(models))
        .route("/v1/orgs/{org}/teams", get(teams))
        .route("/v1/orgs/{org}/departments", get(departments))
        .route("/v1/orgs/{org}/breakdown", get(breakdown))
        .route("/v1/orgs/{org}/timeseries", get(timeseries))
}

type Raw = Query<HashMap<String, String>>;

/// A sortable value: money and counts as integers, names as text; the null group sorts as text.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Key {
    Num(i128),
    Text(String),
}

impl Key {
    fn to_json(&self) -> Value {
        match self {
            Key::Num(n) => json!(["n", n.to_string()]),
            Key::Text(t) => json!(["t", t]),
        }
    }
    fn from_json(v: &Value) -> Option<Key> {
        match v.as_array().map(Vec::as_slice) {
            Some([Value::String(k), Value::String(x)]) if k == "n" => x.parse().ok().map(Key::Num),
            Some([Value::String(k), Value::String(x)]) if k == "t" => Some(Key::Text(x.clone())),
            _ => None,
        }
    }
}

/// A list's answer: a page of rows as JSON, or the whole list as a download.
/// The pages render the first from the same rows the API answers.
pub enum Listed {
    Page(Value),
    Download(Response),
}

impl IntoResponse for Listed {
    fn into_response(self) -> Response {
        match self {
            Listed::Page(v) => Json(v).into_response(),
            Listed::Download(r) => r,
        }
    }
}

pub(super) struct Row {
    pub id: String,
    pub sort: HashMap<&'static str, Key>,
    pub json: Map<String, Value>,
}

/// The figures a list can be sorted by.
const MONEY_SORTS: [&str; 7] = [
    "total_cost",
    "actual_api_cost",
    "messages",
    "conversations",
    "tokens",
    "active_users",
    "unique_users",
];

pub(super) fn money_key(f: &Figures, name: &str) -> Key {
    Key::Num(match name {
        "total_cost" => f.total_cost,
        "actual_api_cost" => f.actual_api_cost,
        "messages" => f.messages.into(),
        "conversations" => f.conversations.into(),
        "tokens" => (f.tokens_in + f.tokens_out).into(),
        "active_users" | "unique_users" => f.active_users.into(),
        _ => 0,
    })
}

pub(super) fn money_sort(f: &Figures) -> Vec<(&'static str, Key)> {
    MONEY_SORTS.iter().map(|n| (*n, money_key(f, n))).collect()
}

pub(super) fn share(part: i128, whole: i128) -> Value {
    if whole == 0 {
        Value::Null
    } else {
        json!(part as f64 / whole as f64)
    }
}

/// Shared by every list: org check, period, filters, paging.
struct Ask {
    org: Org,
    period: Period,
    filter: Filter,
    list: ListParams,
}

async fn ask(
    state: &AppState,
    who: &Principal,
    org: &str,
    mut p: Params,
    sortable: &[&str],
    extra: &[&str],
) -> ApiResult<(Ask, HashMap<String, String>)> {
    who.require_org_admin(org)?;
    let info = state.store.get_org(org).await?;
    let period = p.period(&info.timezone)?;
    let filter = p.filter()?;
    let list = p.list(sortable, "total_cost")?;
    let mut rest = HashMap::new();
    for name in extra {
        if let Some(v) = p.take(name) {
            rest.insert((*name).to_owned(), v);
        }
    }
    p.finish()?;
    Ok((
        Ask {
            org: info,
            period,
            filter,
            list,
        },
        rest,
    ))
}

async fn grouped(
    state: &AppState,
    a: &Ask,
    group_by: Vec<Dim>,
) -> ApiResult<(Vec<GroupRow>, Figures)> {
    with_total(state, a, group_by, |q| async move {
        state.store.figures(&q).await
    })
    .await
}

/// `grouped`, by ids (`figure_ids`).
async fn grouped_ids(
    state: &AppState,
    a: &Ask,
    group_by: Vec<Dim>,
) -> ApiResult<(IdGroups, Figures)> {
    with_total(state, a, group_by, |q| async move {
        state.store.figure_ids(&q).await
    })
    .await
}

/// What `read` answers of a list's grouped question, and the list's totals.
async fn with_total<T, F>(
    state: &AppState,
    a: &Ask,
    group_by: Vec<Dim>,
    read: impl FnOnce(FigureQuery) -> F,
) -> ApiResult<(T, Figures)>
where
    F: std::future::Future<Output = spendlens_store::contract::Result<T>>,
{
    let q = FigureQuery {
        org: a.org.id.clone(),
        period: a.period,
        filter: a.filter.clone(),
        group_by,
    };
    let totals = FigureQuery {
        group_by: vec![],
        ..q.clone()
    };
    // Side by side: on PostgreSQL each is a transaction of its own, and the
    // list's wait was the sum of both.
    let (rows, total) = tokio::try_join!(
        async { Ok::<_, ApiError>(read(q).await?) },
        total_of(state, totals)
    )?;
    Ok((rows, total))
}

/// The organisation totals a request's lists share: the dashboard's
/// organisation page asks five lists of one period at once, and each needs the
/// same total for `share`. Concurrent askers wait for the one read.
#[derive(Clone, Default)]
struct Totals(Arc<Mutex<HashMap<String, Arc<OnceCell<Figures>>>>>);

tokio::task_local! {
    static TOTALS: Totals;
}

/// Run `f` with one read per total for every list it asks (outside it, each list reads its own).
pub async fn shared_totals<F: std::future::Future>(f: F) -> F::Output {
    TOTALS.scope(Totals::default(), f).await
}

async fn total_of(state: &AppState, q: FigureQuery) -> ApiResult<Figures> {
    let read = || async {
        Ok::<_, ApiError>(
            state
                .store
                .figures(&q)
                .await?
                .into_iter()
                .next()
                .map(|r| r.figures)
                .unwrap_or_default(),
        )
    };
    let cell = TOTALS.try_with(|t| {
        let mut memo = t.0.lock().unwrap_or_else(|e| e.into_inner());
        memo.entry(format!("{q:?}")).or_default().clone()
    });
    match cell {
        Ok(cell) => cell.get_or_try_init(read).await.copied(),
        Err(_) => read().await,
    }
}

/// Sort, cut after the cursor, take a page; the cursor pins period, sort and filters.
fn page(a: &Ask, list: &str, columns: &[&str], rows: Vec<Row>) -> ApiResult<Listed> {
    page_of(&a.org.id, a.period, &a.filter, &a.list, list, columns, rows)
}

pub(super) fn page_of(
    org: &str,
    period: Period,
    filter: &Filter,
    l: &ListParams,
    list: &str,
    columns: &[&str],
    rows: Vec<Row>,
) -> ApiResult<Listed> {
    let sort = l.sort.as_str();
    let w = window(
        period,
        filter,
        l,
        list,
        rows,
        |r| r.sort.get(sort).cloned().unwrap_or(Key::Num(0)),
        |r| Cow::Borrowed(&r.id),
    )?;
    let maps = w.rows.into_iter().map(|r| r.json).collect();
    Ok(finish(org, period, l, list, columns, maps, w.next))
}

/// The rows of one answer, in order, and where the next page starts.
pub(super) struct Window<T> {
    pub rows: Vec<T>,
    pub next: Option<String>,
}

/// Sort by the asked key (ties by id), cut after the cursor and take a page
/// — or keep everything for a download. Each row's key is computed once, and
/// only the rows kept need their JSON built; the cursor pins period, sort and filters.
pub(super) fn window<T>(
    period: Period,
    filter: &Filter,
    l: &ListParams,
    list: &str,
    rows: Vec<T>,
    key: impl Fn(&T) -> Key,
    id: impl Fn(&T) -> Cow<'_, str>,
) -> ApiResult<Window<T>> {
    let pinned = format!(
        "{list}|{}|{}|{}|{}|{:?}",
        period.from, period.to, l.sort, l.descending, filter
    );
    let directed = |o: Ordering| if l.descending { o.reverse() } else { o };
    // Positions are sorted, not the rows: a row (a group's key and nine
    // figures) is large to move, and a 180-day breakdown has tens of
    // thousands of them (moving them was a third of its time). A row's id
    // is made only when its key ties another's: a breakdown's ids are its
    // names joined, which most rows of a long list never need.
    let keys: Vec<Key> = rows.iter().map(&key).collect();
    let by = |x: &usize, y: &usize| {
        directed(keys[*x].cmp(&keys[*y])).then_with(|| id(&rows[*x]).cmp(&id(&rows[*y])))
    };
    if l.format.is_some() {
        let mut order: Vec<usize> = (0..rows.len()).collect();
        order.sort_by(by);
        return Ok(Window {
            rows: pick(rows, &order),
            next: None,
        });
    }
    let after = match &l.cursor {
        None => None,
        Some(c) => {
            c.belongs_to(&pinned)?;
            let value = Key::from_json(&c.value)
                .ok_or_else(|| ApiError::param("cursor", "not a cursor this server gave out"))?;
            Some((value, c.id.as_str()))
        }
    };
    // A page needs its `limit` first rows after the cursor in order, not
    // the whole order: they are selected (linear), then only they are sorted.
    let mut order: Vec<usize> = (0..rows.len())
        .filter(|i| {
            after.as_ref().is_none_or(|(value, after_id)| {
                directed(keys[*i].cmp(value)).then_with(|| id(&rows[*i]).as_ref().cmp(after_id))
                    == Ordering::Greater
            })
        })
        .collect();
    let more = order.len() > l.limit;
    if more {
        order.select_nth_unstable_by(l.limit, by);
        order.truncate(l.limit);
    }
    order.sort_by(by);
    let next = match order.last() {
        Some(&last) if more => Some(
            Cursor {
                value: keys[last].to_json(),
                id: id(&rows[last]).into_owned(),
                pinned,
            }
            .encode(),
        ),
        _ => None,
    };
    Ok(Window {
        rows: pick(rows, &order),
        next,
    })
}

/// The rows at `positions`, in that order (each position once).
fn pick<T>(mut rows: Vec<T>, positions: &[usize]) -> Vec<T> {
    if positions.len() == rows.len() {
        let mut rows: Vec<Option<T>> = rows.into_iter().map(Some).collect();
        return positions.iter().filter_map(|i| rows[*i].take()).collect();
    }
    // A page: its rows moved out from the highest position down, so that
    // each swap_remove leaves the lower positions in place.
    let mut from: Vec<(usize, usize)> = positions.iter().copied().zip(0..).collect();
    from.sort_unstable_by_key(|f| std::cmp::Reverse(f.0));
    let mut page: Vec<Option<T>> = positions.iter().map(|_| None).collect();
    for (at, slot) in from {
        page[slot] = Some(rows.swap_remove(at));
    }
    page.into_iter().flatten().collect()
}

/// A window's rows as the page's JSON, or as the download its format asks.
pub(super) fn finish(
    org: &str,
    period: Period,
    l: &ListParams,
    list: &str,
    columns: &[&str],
    maps: Vec<Map<String, Value>>,
    next: Option<String>,
) -> Listed {
    if let Some(format) = l.format {
        let name = export::file_name(
            org,
            list,
            &period.from.to_string(),
            &period.to.to_string(),
            format,
        );
        return Listed::Download(export::download(format, &name, columns, &maps));
    }
    let data: Vec<Value> = maps.into_iter().map(Value::Object).collect();
    Listed::Page(
        json!({"data": data, "next_cursor": next, "from": period.from.to_string(), "to": period.to.to_string()}),
    )
}

/// The figures every list row carries after its own fields, in this order.
const FIGURES: [&str; 6] = [
    "total_cost",
    "actual_api_cost",
    "messages",
    "conversations",
    "tokens",
    "share",
];

/// A list's columns: its own fields, the figures, then its extra figures.
fn columns<'a>(head: &[&'a str], tail: &[&'a str]) -> Vec<&'a str> {
    head.iter()
        .chain(FIGURES.iter())
        .chain(tail)
        .copied()
        .collect()
}

impl Row {
    /// A row of `head` fields followed by the group's figures, sortable by each figure.
    fn of(id: String, head: Map<String, Value>, f: &Figures, total: &Figures) -> Row {
        let mut json = head;
        json.insert("total_cost".into(), format_usd(f.total_cost).into());
        json.insert(
            "actual_api_cost".into(),
            format_usd(f.actual_api_cost).into(),
        );
        json.insert("messages".into(), f.messages.into());
        json.insert("conversations".into(), f.conversations.into());
        json.insert("tokens".into(), (f.tokens_in + f.tokens_out).into());
        json.insert("share".into(), share(f.total_cost, total.total_cost));
        Row {
            id,
            sort: money_sort(f).into_iter().collect(),
            json,
        }
    }
}

fn fields<const N: usize>(pairs: [(&str, Value); N]) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

fn id_or_none(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| NONE_ID.to_owned())
}

fn sortable(extra: &[&'static str]) -> Vec<&'static str> {
    FIGURES[..5].iter().chain(extra).copied().collect()
}

pub async fn users(
    State(s): State<AppState>,
    who: Principal,
    Path(org): Path<String>,
    Query(raw): Raw,
) -> ApiResult<Listed> {
    let (a, extra) = ask(
        &s,
        &who,
        &org,
        Params::new(raw),
        &sortable(&["user_id", "email"]),
        &["q"],
    )
    .await?;
    let (groups, total) = grouped(&s, &a, vec![Dim::User]).await?;
    let q = extra.get("q").map(|q| q.to_lowercase());
    // Everyone's member details only when the search, the sort or a download
    // needs them; a page of a large organisation reads its own rows' alone.
    let everyone = q.is_some() || a.list.sort == "email" || a.list.format.is_some();
    let mut members: HashMap<String, Member> = if everyone {
        s.store
            .list_members(&org)
            .await?
            .into_iter()
            .map(|m| (m.user_id.clone(), m))
            .collect()
    } else {
        HashMap::new()
    };
    let email = |members: &HashMap<String, Member>, id: &str| {
        members
            .get(id)
            .and_then(|m| m.email.clone())
            .unwrap_or_default()
    };
    let mut rows: Vec<(String, Figures)> = groups
        .into_iter()
        .map(|g| (id_or_none(&g.key[0]), g.figures))
        .collect();
    if let Some(q) = &q {
        rows.retain(|(id, _)| {
            id.to_lowercase().contains(q) || email(&members, id).to_lowercase().contains(q)
        });
    }
    let sort = a.list.sort.as_str();
    let w = window(
        a.period,
        &a.filter,
        &a.list,
        "users",
        rows,
        |(id, f)| match sort {
            "user_id" => Key::Text(id.clone()),
            "email" => Key::Text(email(&members, id)),
            other => money_key(f, other),
        },
        |(id, _)| Cow::Borrowed(id),
    )?;
    if !everyone {
        let ids: Vec<String> = w.rows.iter().map(|(id, _)| id.clone()).collect();
        for m in s.store.get_members(&org, &ids).await? {
            members.insert(m.user_id.clone(), m);
        }
    }
    let team_departments: HashMap<String, Option<String>> = s
        .store
        .list_teams(&org)
        .await?
        .into_iter()
        .map(|t| (t.team_id, t.department))
        .collect();
    let maps = w
        .rows
        .into_iter()
        .map(|(id, f)| {
            let m = members.get(&id);
            // The member's own department, else their team's: the same default
            // their events get at ingest (API.md §2).
            let department = m.and_then(|m| m.department.clone()).or_else(|| {
                let team = m.and_then(|m| m.team_id.as_deref())?;
                team_departments.get(team).cloned().flatten()
            });
            let head = fields([
                ("user_id", id.clone().into()),
                ("email", m.and_then(|m| m.email.clone()).into()),
                ("team_id", m.and_then(|m| m.team_id.clone()).into()),
                ("department", department.into()),
            ]);
            Row::of(id, head, &f, &total).json
        })
        .collect();
    Ok(finish(
        &a.org.id,
        a.period,
        &a.list,
        "users",
        &columns(&["user_id", "email", "team_id", "department"], &[]),
        maps,
        w.next,
    ))
}

pub async fn api_keys(
    State(s): State<AppState>,
    who: Principal,
    Path(org): Path<String>,
    Query(raw): Raw,
) -> ApiResult<Listed> {
    let (a, _) = ask(
        &s,
        &who,
        &org,
        Params::new(raw),
        &sortable(&["name", "unique_users"]),
        &[],
    )
    .await?;
    let (groups, total) = grouped(&s, &a, vec![Dim::ApiKey]).await?;
    let keys: HashMap<String, _> = s
        .store
        .list_api_keys(&org)
        .await?
        .into_iter()
        .map(|k| (k.api_key_id.clone(), k))
        .collect();
    let mut rows = Vec::new();
    for g in groups {
        let k = g.key[0].as_ref().and_then(|id| keys.get(id));
        let name = match (&g.key[0], k) {
            (None, _) => "Unknown key".to_owned(),
            (Some(_), Some(k)) => k.name.clone(),
            (Some(id), None) => id.clone(),
        };
        let head = fields([
            ("api_key_id", g.key[0].clone().into()),
            ("name", name.clone().into()),
            ("provider", k.and_then(|k| k.provider.clone()).into()),
            ("registered", k.is_some_and(|k| k.registered).into()),
        ]);
        let mut row = Row::of(id_or_none(&g.key[0]), head, &g.figures, &total);
        row.json
            .insert("unique_users".into(), g.figures.active_users.into());
        let avg = div_round(g.figures.total_cost, g.figures.conversations.into()).map(format_usd);
        row.json
            .insert("avg_cost_per_conversation".into(), avg.into());
        row.json
            .insert("last_used_at".into(), json!(k.and_then(|k| k.last_used_at)));
        row.sort.insert("name", Key::Text(name));
        rows.push(row);
    }
    let columns = columns(
        &["api_key_id", "name", "provider", "registered"],
        &["unique_users", "avg_cost_per_conversation", "last_used_at"],
    );
    page(&a, "api-keys", &columns, rows)
}

pub async fn models(
    State(s): State<AppState>,
    who: Principal,
    Path(org): Path<String>,
    Query(raw): Raw,
) -> ApiResult<Listed> {
    let (a, _) = ask(&s, &who, &org, Params::new(raw), &sortable(&["model"]), &[]).await?;
    let (groups, total) = grouped(&s, &a, vec![Dim::Model]).await?;
    let catalog = Catalog::builtin();
    let rows = groups
        .into_iter()
        .map(|g| {
            let model = id_or_none(&g.key[0]);
            let head = fields([
                ("model", model.clone().into()),
                ("provider", catalog.provider_of(&model).into()),
            ]);
            let mut row = Row::of(model.clone(), head, &g.figures, &total);
            row.sort.insert("model", Key::Text(model));
            row
        })
        .collect();
    page(&a, "models", &columns(&["model", "provider"], &[]), rows)
}

pub async fn teams(
    State(s): State<AppState>,
    who: Principal,
    Path(org): Path<String>,
    Query(raw): Raw,
) -> ApiResult<Listed> {
    let (a, _) = ask(
        &s,
        &who,
        &org,
        Params::new(raw),
        &sortable(&["name", "active_users"]),
        &[],
    )
    .await?;
    let (groups, total) = grouped(&s, &a, vec![Dim::Team]).await?;
    let names = team_names(&s, &org).await?;
    let rows = groups
        .into_iter()
        .map(|g| {
            let name = match &g.key[0] {
                Some(id) => names.get(id).cloned().unwrap_or_else(|| id.clone()),
                None => "No team".into(),
            };
            let head = fields([
                ("team_id", g.key[0].clone().into()),
                ("name", name.clone().into()),
            ]);
            let mut row = Row::of(id_or_none(&g.key[0]), head, &g.figures, &total);
            row.json
                .insert("active_users".into(), g.figures.active_users.into());
            row.sort.insert("name", Key::Text(name));
            row
        })
        .collect();
    page(
        &a,
        "teams",
        &columns(&["team_id", "name"], &["active_users"]),
        rows,
    )
}

pub async fn departments(
    State(s): State<AppState>,
    who: Principal,
    Path(org): Path<String>,
    Query(raw): Raw,
) -> ApiResult<Listed> {
    let (a, _) = ask(
        &s,
        &who,
        &org,
        Params::new(raw),
        &sortable(&["department", "active_users"]),
        &[],
    )
    .await?;
    let (groups, total) = grouped(&s, &a, vec![Dim::Department]).await?;
    let rows = groups
        .into_iter()
        .map(|g| {
            let id = id_or_none(&g.key[0]);
            let mut row = Row::of(
                id.clone(),
                fields([("department", g.key[0].clone().into())]),
                &g.figures,
                &total,
            );
            row.json
                .insert("active_users".into(), g.figures.active_users.into());
            row.sort.insert("department", Key::Text(id));
            row
        })
        .collect();
    page(
        &a,
        "departments",
        &columns(&["department"], &["active_users"]),
        rows,
    )
}

fn dim_field(d: Dim) -> &'static str {
    match d {
        Dim::User => "user_id",
        Dim::Team => "team_id",
        Dim::Department => "department",
        Dim::ApiKey => "api_key_id",
        Dim::Model => "model",
        Dim::Provider => "provider",
        Dim::Day => "day",
        Dim::Week => "week",
        Dim::Month => "month",
        Dim::Hour => "hour",
    }
}

fn parse_group_by(text: Option<String>) -> ApiResult<Vec<Dim>> {
    let text = text.ok_or_else(|| {
        ApiError::param("group_by", "required: 1 to 3 of user, team, department, api_key, model, provider, day, week, month")
    })?;
    let mut dims = Vec::new();
    for part in text.split(',') {
        let d = Dim::parse(part.trim())
            .ok_or_else(|| ApiError::param("group_by", format!("unknown dimension {part:?}")))?;
        if dims.contains(&d) {
            return Err(ApiError::param(
                "group_by",
                format!("{part} is given twice"),
            ));
        }
        dims.push(d);
    }
    let time = dims
        .iter()
        .filter(|d| matches!(d, Dim::Day | Dim::Week | Dim::Month))
        .count();
    if dims.is_empty() || dims.len() > 3 || time > 1 {
        return Err(ApiError::param(
            "group_by",
            "1 to 3 dimensions, at most one of day, week, month",
        ));
    }
    Ok(dims)
}

async fn breakdown(
    State(s): State<AppState>,
    who: Principal,
    Path(org): Path<String>,
    Query(mut raw): Raw,
) -> ApiResult<Listed> {
    let dims = parse_group_by(raw.remove("group_by"))?;
    let names: Vec<&str> = dims.iter().map(|d| dim_field(*d)).collect();
    let mut sortable = sortable(&["active_users"]);
    sortable.extend(&names);
    let (a, _) = ask(&s, &who, &org, Params::new(raw), &sortable, &[]).await?;
    let (groups, total) = grouped_ids(&s, &a, dims.clone()).await?;
    // Sorted and cut on each group's ids and figures: only the page's
    // groups (or a sort by name's) are named, and a 5,000-person breakdown
    // builds the JSON of its page's rows, not of every group.
    let name = |ids: &[i64], at: usize| groups.name(at, ids[at]).unwrap_or(NONE_ID);
    let row_id = |ids: &[i64]| {
        let mut id = String::with_capacity(48);
        for at in 0..ids.len() {
            if at > 0 {
                id.push('\u{1f}');
            }
            id.push_str(name(ids, at));
        }
        id
    };
    let sort = a.list.sort.as_str();
    let sort_at = names.iter().position(|n| *n == sort);
    let w = window(
        a.period,
        &a.filter,
        &a.list,
        "breakdown",
        (0..groups.rows.len()).collect(),
        |i| match sort_at {
            Some(at) => Key::Text(name(groups.rows.ids(*i), at).to_owned()),
            None => money_key(groups.rows.figures(*i), sort),
        },
        |i| Cow::Owned(row_id(groups.rows.ids(*i))),
    )?;
    let maps = w
        .rows
        .into_iter()
        .map(|i| {
            let (ids, f) = (groups.rows.ids(i), groups.rows.figures(i));
            let head: Map<String, Value> = names
                .iter()
                .enumerate()
                .map(|(at, n)| {
                    let v = groups.name(at, ids[at]).map(str::to_owned);
                    ((*n).to_owned(), v.into())
                })
                .collect();
            let mut row = Row::of(row_id(ids), head, f, &total);
            row.json
                .insert("active_users".into(), f.active_users.into());
            row.json
        })
        .collect();
    Ok(finish(
        &a.org.id,
        a.period,
        &a.list,
        "breakdown",
        &columns(&names, &["active_users"]),
        maps,
        w.next,
    ))
}

/// Dense: one row per bucket of the period, zeros included, edge buckets clipped.
/// The series, or with `format=` the same rows as a download.
async fn timeseries(
    State(s): State<AppState>,
    who: Principal,
    Path(org): Path<String>,
    Query(mut raw): Raw,
) -> ApiResult<Response> {
    let format = raw
        .remove("format")
        .map(|f| export::Format::parse(&f))
        .transpose()?;
    let Json(series) = series(&s, &who, &org, raw).await?;
    let Some(format) = format else {
        return Ok(Json(series).into_response());
    };
    let columns = [
        "date",
        "total_cost",
        "actual_api_cost",
        "profit",
        "margin",
        "active_users",
        "conversations",
        "messages",
        "tokens_in",
        "tokens_out",
        "tokens",
        "unpriced_events",
        "avg_cost_per_active_user",
    ];
    let rows: Vec<Map<String, Value>> = series["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r.as_object().cloned())
        .collect();
    let (from, to) = (
        series["from"].as_str().unwrap_or(""),
        series["to"].as_str().unwrap_or(""),
    );
    let list = format!("timeseries-{}", series["bucket"].as_str().unwrap_or("day"));
    Ok(export::download(
        format,
        &export::file_name(&org, &list, from, to, format),
        &columns,
        &rows,
    ))
}

pub async fn series(
    s: &AppState,
    who: &Principal,
    org: &str,
    mut raw: HashMap<String, String>,
) -> ApiResult<Json<Value>> {
    let org = org.to_owned();
    let bucket = raw.remove("bucket").unwrap_or_else(|| "day".into());
    let dim = match bucket.as_str() {
        "day" => Dim::Day,
        "week" => Dim::Week,
        "month" => Dim::Month,
        "hour" => Dim::Hour,
        other => {
            return Err(ApiError::param(
                "bucket",
                format!("{other:?}: hour, day, week or month"),
            ))
        }
    };
    who.require_org_admin(&org)?;
    let info = s.store.get_org(&org).await?;
    let mut p = Params::new(raw);
    let period = p.period(&info.timezone)?;
    let filter = p.filter()?;
    p.finish()?;
    let q = FigureQuery {
        org: org.clone(),
        period,
        filter,
        group_by: vec![dim],
    };
    let got: HashMap<String, Figures> = s
        .store
        .figures(&q)
        .await?
        .into_iter()
        .filter_map(|r| Some((r.key[0].clone()?, r.figures)))
        .collect();
    if dim == Dim::Hour {
        return Ok(Json(hours(&info.timezone, period, &got, &bucket)?));
    }
    let label = |d: Day| match dim {
        Dim::Week => d.iso_week_monday(),
        Dim::Month => d.month().first_day(),
        _ => d,
    };
    let mut data = Vec::new();
    let mut day = period.from;
    while day < period.to {
        let start = label(day);
        let key = start.to_string();
        let mut row = figures_json(&got.get(&key).copied().unwrap_or_default());
        // Labelled by the bucket's first day (a week's Monday); figures cover only days inside the period.
        row.insert("date".into(), key.into());
        data.push(Value::Object(row));
        let mut next = Day(day.0 + 1);
        while next < period.to && label(next) == start {
            next = Day(next.0 + 1);
        }
        day = next;
    }
    Ok(Json(
        json!({"bucket": bucket, "from": period.from.to_string(), "to": period.to.to_string(), "data": data}),
    ))
}

/// Most days an hour series may span (API.md §3).
const MAX_HOUR_DAYS: i32 = 31;

/// Dense hours labelled by their local start with its offset; distinct users
/// and conversations do not add up across hours, so they are null.
fn hours(
    timezone: &str,
    period: Period,
    got: &HashMap<String, Figures>,
    bucket: &str,
) -> ApiResult<Value> {
    if period.days() > MAX_HOUR_DAYS {
        return Err(ApiError::param(
            "bucket",
            format!(
                "hour buckets cover at most {MAX_HOUR_DAYS} days; this period has {}",
                period.days()
            ),
        ));
    }
    let tz = spendlens_domain::time::parse_timezone(timezone)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("stored timezone {timezone}: {e}")))?;
    let (start, end) = (
        period.from.start_in(&tz).as_second(),
        period.to.start_in(&tz).as_second(),
    );
    let mut data = Vec::new();
    for s in (start..end).step_by(3600) {
        let mut row = figures_json(&got.get(&s.to_string()).copied().unwrap_or_default());
        row.insert("active_users".into(), Value::Null);
        row.insert("conversations".into(), Value::Null);
        row.insert("avg_cost_per_active_user".into(), Value::Null);
        let at = jiff::Timestamp::from_second(s)
            .map_err(|e| ApiError::Internal(e.into()))?
            .to_zoned(tz.clone());
        row.insert(
            "date".into(),
            at.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string().into(),
        );
        data.push(Value::Object(row));
    }
    Ok(
        json!({"bucket": bucket, "from": period.from.to_string(), "to": period.to.to_string(), "data": data}),
    )
}

/// Team id → name, for rows that show names.
pub(super) async fn team_names(s: &AppState, org: &str) -> ApiResult<HashMap<String, String>> {
    Ok(s.store
        .list_teams(org)
        .await?
        .into_iter()
        .map(|t| (t.team_id, t.name))
        .collect())
}
