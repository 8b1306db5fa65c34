//! Alerts to the organisation's webhook: JSON with a human `text` (a Slack
//! incoming webhook shows it as is), signed with HMAC-SHA256 over
//! `timestamp + "." + body` (API.md §5), retried with exponential backoff in
//! its own task, every attempt written to the delivery log. Addresses that are
//! private, loopback or link-local are refused unless the server allows them,
//! and redirects are not followed, so a webhook cannot reach inside the network.

use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use spendlens_domain::money::format_usd;
use spendlens_domain::time::Day;
use spendlens_store::model::{Alert, Delivery, Org};
use spendlens_store::Store;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// Attempts per alert before it is given up (the log says so).
pub const MAX_ATTEMPTS: u32 = 6;

#[derive(Clone)]
pub struct Webhooks {
    store: Arc<dyn Store>,
    client: reqwest::Client,
    allow_private: bool,
    /// The first retry's delay; each next one doubles it.
    backoff: Duration,
}

impl Webhooks {
    pub fn new(store: Arc<dyn Store>, allow_private: bool, backoff: Duration) -> Webhooks {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .expect("a plain HTTP client builds");
        Webhooks {
            store,
            client,
            allow_private,
            backoff,
        }
    }

    /// Send `alert` in the background (ingestion never waits for it).
    pub fn deliver(&self, org: &Org, alert: Alert) {
        let this = self.clone();
        let org = org.clone();
        tokio::spawn(async move { this.send(&org, &alert).await });
    }

    async fn send(&self, org: &Org, alert: &Alert) {
        let hook = match self.store.webhook(&org.id).await {
            Ok(Some(h)) => h,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(org = %org.id, error = %e, "cannot read the webhook");
                return;
            }
        };
        let body = payload(org, alert).to_string();
        for attempt in 1..=MAX_ATTEMPTS {
            let result = match self.refused(&hook.url).await {
                Some(why) => Err((None, why, false)),
                None => self.post(&hook.url, &hook.secret, &body).await,
            };
            let (status, error, retry) = match &result {
                Ok(status) => (Some(*status), None, false),
                Err((status, e, retry)) => (*status, Some(e.clone()), *retry),
            };
            let delivered = result.is_ok();
            let logged = Delivery {
                alert_id: alert.id,
                attempt,
                at: jiff::Timestamp::now(),
                status,
                error: error.clone(),
                delivered,
            };
            if let Err(e) = self.store.record_delivery(&org.id, logged).await {
                tracing::warn!(org = %org.id, error = %e, "cannot log a webhook delivery");
            }
            if delivered || !retry {
                if let Some(e) = error {
                    tracing::warn!(org = %org.id, alert = alert.id, error = %e, "webhook not delivered");
                }
                return;
            }
            tokio::time::sleep(self.backoff * 2u32.pow(attempt - 1)).await;
        }
        tracing::warn!(org = %org.id, alert = alert.id, attempts = MAX_ATTEMPTS, "webhook given up");
    }

    /// Ok(status) when the receiver took it (2xx); Err((status, why, retry)).
    async fn post(
        &self,
        url: &str,
        secret: &str,
        body: &str,
    ) -> Result<u16, (Option<u16>, String, bool)> {
        let timestamp = jiff::Timestamp::now().as_second().to_string();
        let answer = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("x-spendlens-timestamp", &timestamp)
            .header("x-spendlens-signature", signature(secret, &timestamp, body))
            .body(body.to_owned())
            .send()
            .await
            .map_err(|e| (None, format!("cannot reach the receiver: {e}"), true))?;
        let status = answer.status().as_u16();
        if answer.status().is_success() {
            Ok(status)
        } else {
            Err((
                Some(status),
                format!("the receiver answered {status}"),
                true,
            ))
        }
    }

    /// Why this URL may not be called, if it may not.
    async fn refused(&self, url: &str) -> Option<String> {
        let parsed = match reqwest::Url::parse(url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => u,
            _ => return Some(format!("{url:?} is not an http(s) URL")),
        };
        if self.allow_private {
            return None;
        }
        let host = parsed.host_str()?.to_owned();
        let port = parsed.port_or_known_default().unwrap_or(443);
        let addrs = match tokio::net::lookup_host((host.trim_matches(['[', ']']), port)).await {
            Ok(a) => a.collect::<Vec<_>>(),
            Err(e) => return Some(format!("cannot resolve {host}: {e}")),
        };
        addrs.iter().find(|a| private(a.ip())).map(|a| {
            format!(
                "{host} resolves to the private address {} (start the server with --allow-private-webhooks to allow it)",
                a.ip()
            )
        })
    }
}

/// `sha256=<hex>` of HMAC-SHA256(secret, timestamp + "." + body).
pub fn signature(secret: &str, timestamp: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64 // 100.64/10, carrier NAT
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link-local
                || v6.to_ipv4_mapped().is_some_and(|v4| private(IpAddr::V4(v4)))
        }
    }
}

fn payload(org: &Org, alert: &Alert) -> serde_json::Value {
    let percent = alert.threshold_ppm as f64 / 10_000.0;
    let scope = match &alert.scope_id {
        Some(id) => format!("{} {id}", scope_name(alert)),
        None => "organisation".to_owned(),
    };
    let (from, to) = (Day(alert.period_from), Day(alert.period_to - 1));
    let text = format!(
        "{name}: the {scope} budget {budget} reached {percent}% — ${spent} of ${amount} spent ({from} to {to}).",
        name = org.name,
        budget = alert.budget_id,
        spent = format_usd(alert.spent.into()),
        amount = format_usd(alert.amount.into()),
    );
    json!({
        "type": "budget.threshold_crossed",
        "text": text,
        "organization_id": org.id,
        "alert": alert_json(alert),
    })
}

/// An alert as the API and the webhook show it.
pub fn alert_json(alert: &Alert) -> serde_json::Value {
    json!({
        "id": alert.id,
        "budget_id": alert.budget_id,
        "scope": alert.scope,
        "scope_id": alert.scope_id,
        "threshold": alert.threshold_ppm as f64 / 1e6,
        "period_from": Day(alert.period_from).to_string(),
        "period_to": Day(alert.period_to).to_string(),
        "spent": format_usd(alert.spent.into()),
        "amount": format_usd(alert.amount.into()),
        "crossed_at": alert.crossed_at.to_string(),
    })
}

fn scope_name(alert: &Alert) -> &'static str {
    use spendlens_store::model::BudgetScope::*;
    match alert.scope {
        Org => "organisation",
        Team => "team",
        Department => "department",
        User => "user",
        ApiKey => "API key",
    }
}
