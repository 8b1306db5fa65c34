//! The frame every page shares: head, top bar with breadcrumbs and logout,
//! the period picker, cards and table headings with their CSV link.

use super::range::PageQuery;
use crate::auth::Principal;
use maud::{html, Markup, DOCTYPE};
use spendlens_store::model::Role;

/// A breadcrumb: label and link.
pub type Crumb = (String, String);

pub fn shell(title: &str, who: Option<&Principal>, crumbs: &[Crumb], body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · spendlens" }
                link rel="stylesheet" href="/assets/dashboard.css";
                // No favicon request (and so no 404 in the console).
                link rel="icon" href="data:,";
                script src="/assets/dashboard.js" defer {}
            }
            body {
                header.top {
                    a.brand href="/" { "spendlens" }
                    nav.crumbs aria-label="Breadcrumb" {
                        @for (label, href) in crumbs { a href=(href) { (label) } }
                    }
                    @if let Some(who) = who {
                        span.who { (role_name(who.role)) @if let Some(u) = &who.user { " · " (u) } }
                        form.logout method="post" action="/logout" { button type="submit" { "Log out" } }
                    }
                }
                main { (body) }
            }
        }
    }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::PlatformAdmin => "platform admin",
        Role::OrgAdmin => "org admin",
        Role::TeamLead => "team lead",
        Role::Member => "member",
        Role::Ingest => "ingest",
    }
}

/// The page title with the period it covers and the picker (a plain GET form:
/// works without JavaScript; the script only submits on change).
pub fn heading(title: &str, subtitle: &str, range: &(String, String), q: &PageQuery) -> Markup {
    let presets = [
        ("this_month", "This month"),
        ("last_month", "Last month"),
        ("last_7d", "Last 7 days"),
        ("last_30d", "Last 30 days"),
        ("last_90d", "Last 90 days"),
    ];
    let custom = q.preset().is_empty();
    html! {
        div.heading {
            div {
                h1 { (title) }
                p.muted { (subtitle) " · " (range.0) " to " (range.1) " (end excluded)" }
            }
            div.picker {
                form method="get" {
                    label { "Period "
                        select name="period" data-autosubmit {
                            @if custom { option value="" selected { "Custom range" } }
                            @for (value, label) in presets {
                                option value=(value) selected[q.preset() == value] { (label) }
                            }
                        }
                    }
                    @if let Some(s) = &q.sort { input type="hidden" name="sort" value=(s); }
                    @if let Some(o) = &q.order { input type="hidden" name="order" value=(o); }
                    button type="submit" { "Show" }
                }
                details {
                    summary { "Custom range" }
                    form method="get" {
                        label { "From " input type="date" name="from" required value=(range.0); }
                        label { "To (excluded) " input type="date" name="to" required value=(range.1); }
                        button type="submit" { "Show" }
                    }
                }
            }
        }
    }
}

/// A section heading with its table's CSV download.
pub fn section(title: &str, csv: Option<&str>) -> Markup {
    html! {
        div.section-head {
            h2 { (title) }
            @if let Some(href) = csv { a.csv href=(href) download { "Download CSV" } }
        }
    }
}

/// A key figure with its change against the previous period.
pub fn card(label: &str, value: &str, below: Markup) -> Markup {
    html! {
        div.card.kpi {
            div.value { (value) }
            div.label { (label) }
            div.below { (below) }
        }
    }
}

/// What to do when there is nothing to show: how events get in.
pub fn empty(what: &str) -> Markup {
    html! {
        div.empty {
            p { strong { "No " (what) " in this period." } " Pick a longer period above, or send events:" }
            pre { code { "curl -X POST http://HOST/v1/events \\\n  -H 'Authorization: Bearer INGEST_TOKEN' -H 'Content-Type: application/json' \\\n  -d '[{\"event_id\":\"e1\",\"occurred_at\":\"2026-11-20T15:00:00Z\",\"user_id\":\"alice\",\n       \"conversation_id\":\"c1\",\"model_name\":\"gpt-4o\",\"tokens_in\":1000,\"tokens_out\":500}]'" } }
            p.muted { "An ingest token comes from " code { "spendlens token create --role ingest" } " (docs/api.md)." }
        }
    }
}

/// A sortable column heading: a link to the same page sorted by `key`;
/// a second click reverses the order. The current sort is marked for screen readers too.
pub fn sort_head(q: &PageQuery, key: &str, label: &str, default: (&str, &str)) -> Markup {
    let (sort, order) = (
        q.sort.as_deref().unwrap_or(default.0),
        q.order.as_deref().unwrap_or(default.1),
    );
    let current = sort == key;
    let next = if current && order == "desc" {
        "asc"
    } else {
        "desc"
    };
    let aria = match (current, order) {
        (false, _) => "none",
        (true, "asc") => "ascending",
        (true, _) => "descending",
    };
    html! {
        th aria-sort=(aria) {
            a href=(q.link(&[("sort", key), ("order", next)])) data-sort=(key) {
                (label) @if current { @if order == "asc" { " ▲" } @else { " ▼" } }
            }
        }
    }
}
