//! A page's own tables as CSV (`?csv=NAME`): the rows the page shows, from
//! the same JSON answer, through the API's export writer (same columns
//! order, same neutralising of formula cells). Organisation-wide tables link
//! to the API's `format=csv` download instead, which the session cookie authorises.

use crate::routes::export::{self, Format};
use axum::response::Response;
use serde_json::{Map, Value};

pub fn download(
    org: &str,
    name: &str,
    range: &(String, String),
    columns: &[&str],
    rows: &[Value],
) -> Response {
    let maps: Vec<Map<String, Value>> =
        rows.iter().filter_map(|r| r.as_object().cloned()).collect();
    let file = export::file_name(org, name, &range.0, &range.1, Format::Csv);
    export::download(Format::Csv, &file, columns, &maps)
}
