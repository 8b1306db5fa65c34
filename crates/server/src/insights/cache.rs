//! The dashboard's advisory panels (days that stand out, how to spend less)
//! are recomputed at most once a minute per organisation and person on each
//! node. They read weeks of per-person rows — on the largest organisation of
//! `large` most of the organisation page's time — and they are advice about
//! the last 30 days, which a minute does not change. Figures are never
//! cached, and the API endpoints (`/anomalies`, `/recommendations`) always
//! compute afresh (docs/decisions.md).

use serde_json::Value;
use spendlens_store::StoreError;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a panel's list is reused.
pub const TTL: Duration = Duration::from_secs(60);
/// Entries kept at most; older ones are dropped first when full.
const CAPACITY: usize = 4096;

#[derive(Default)]
pub struct PanelCache {
    entries: Mutex<HashMap<String, (Instant, Vec<Value>)>>,
}

impl PanelCache {
    /// The list under `key` computed less than TTL ago, else `compute`'s
    /// (stored for the next views). Errors are not stored.
    pub async fn get_or<F, Fut>(&self, key: String, compute: F) -> Result<Vec<Value>, StoreError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Vec<Value>, StoreError>>,
    {
        if let Some((at, list)) = self.lock().get(&key) {
            if at.elapsed() < TTL {
                return Ok(list.clone());
            }
        }
        let list = compute().await?;
        let mut map = self.lock();
        if map.len() >= CAPACITY {
            map.retain(|_, (at, _)| at.elapsed() < TTL);
            if map.len() >= CAPACITY {
                map.clear();
            }
        }
        map.insert(key, (Instant::now(), list.clone()));
        Ok(list)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, Vec<Value>)>> {
        // A panic while holding the lock leaves a map that is still whole.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn a_list_is_reused_within_the_ttl_and_errors_are_not_kept() {
        let cache = PanelCache::default();
        let first = cache
            .get_or("a".into(), || async { Ok(vec![json!(1)]) })
            .await
            .unwrap();
        let again = cache
            .get_or("a".into(), || async { Ok(vec![json!(2)]) })
            .await
            .unwrap();
        assert_eq!((first, again), (vec![json!(1)], vec![json!(1)]));
        let other = cache
            .get_or("b".into(), || async { Ok(vec![json!(3)]) })
            .await
            .unwrap();
        assert_eq!(other, vec![json!(3)]);
        let failed = cache
            .get_or("c".into(), || async {
                Err(StoreError::NotFound("x".into()))
            })
            .await;
        assert!(failed.is_err());
        let after = cache
            .get_or("c".into(), || async { Ok(vec![json!(4)]) })
            .await
            .unwrap();
        assert_eq!(after, vec![json!(4)]);
    }
}
