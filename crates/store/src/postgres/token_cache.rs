//! Tokens a server has looked up, kept for a few seconds. Every request with
//! a token asks for it, and on PostgreSQL that was a round trip before the
//! request's own: for the budget check, which an IDE asks before every LLM
//! call, one of its two.
//!
//! A kept token must never outlive its revocation, on any server. Every
//! statement that changes a token's identity, role or validity (revoke,
//! a member's removal, erasure, or an operator's own SQL) fires a trigger
//! that notifies the channel `spendlens_tokens` (migration 0012); each
//! server listens on a connection of its own and forgets every kept token
//! when told, or when that connection is lost. Tokens are kept only while
//! the server listens, and a lookup begun before a forgetting is not kept
//! (`generation`). The server that made the change forgets at once, before
//! it answers. Expiry is checked on every use (auth.rs), and an entry lasts
//! at most `KEPT_FOR` in any case.

use crate::model::TokenRecord;
use jiff::Timestamp;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// The channel migration 0012's trigger notifies.
const CHANNEL: &str = "spendlens_tokens";

/// How long an entry may be used, notified or not.
const KEPT_FOR: Duration = Duration::from_secs(10);

/// Entries at most; past it the stale ones go, then all.
const MOST: usize = 10_000;

#[derive(Default)]
struct Inner {
    /// Secret hash → (token, when looked up).
    entries: Mutex<HashMap<String, (TokenRecord, Instant)>>,
    /// Counts the forgettings: a lookup keeps its answer only if none
    /// happened since it began.
    generation: AtomicU64,
    listening: AtomicBool,
}

impl Inner {
    fn forget_all(&self) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        self.generation.fetch_add(1, Ordering::SeqCst);
        entries.clear();
    }
}

pub struct TokenCache {
    inner: Arc<Inner>,
    /// Dropped with the store, which stops the listener.
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl TokenCache {
    /// A cache whose listener connects with `opts` (its own connection,
    /// outside the store's pool).
    pub fn start(opts: PgConnectOptions) -> TokenCache {
        let inner = Arc::new(Inner::default());
        let (stop, stopped) = tokio::sync::oneshot::channel();
        tokio::spawn(listen(opts, Arc::downgrade(&inner), stopped));
        TokenCache { inner, _stop: stop }
    }

    /// The kept token of `hash`, if fresh and the server is listening.
    pub fn get(&self, hash: &str) -> Option<TokenRecord> {
        if !self.inner.listening.load(Ordering::SeqCst) {
            return None;
        }
        let entries = self.inner.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(hash)
            .filter(|(_, at)| at.elapsed() < KEPT_FOR)
            .map(|(t, _)| t.clone())
    }

    /// Taken before a lookup, given back to `keep`.
    pub fn generation(&self) -> u64 {
        self.inner.generation.load(Ordering::SeqCst)
    }

    /// Keep what a lookup begun at `generation` found, unless tokens were
    /// forgotten since or the server is not listening.
    pub fn keep(&self, hash: &str, token: TokenRecord, generation: u64) {
        let mut entries = self.inner.entries.lock().unwrap_or_else(|e| e.into_inner());
        if !self.inner.listening.load(Ordering::SeqCst)
            || self.inner.generation.load(Ordering::SeqCst) != generation
        {
            return;
        }
        if entries.len() >= MOST {
            entries.retain(|_, (_, at)| at.elapsed() < KEPT_FOR);
            if entries.len() >= MOST {
                entries.clear();
            }
        }
        entries.insert(hash.to_owned(), (token, Instant::now()));
    }

    /// Forget every kept token (this server changed one).
    pub fn forget_all(&self) {
        self.inner.forget_all();
    }

    /// Token `id` was used at `at` (recorded in the store): kept copies say
    /// so, or the server would record it again on each use.
    pub fn used(&self, id: &str, at: Timestamp) {
        let mut entries = self.inner.entries.lock().unwrap_or_else(|e| e.into_inner());
        for (token, _) in entries.values_mut() {
            if token.id == id {
                token.last_used_at = Some(at);
            }
        }
    }

    /// Whether tokens are being kept (the listener is connected).
    pub fn is_listening(&self) -> bool {
        self.inner.listening.load(Ordering::SeqCst)
    }
}

/// Listen until `stopped`, forgetting every token on each notification and
/// on each loss of the connection; reconnect after a second on failure.
async fn listen(
    opts: PgConnectOptions,
    inner: Weak<Inner>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    loop {
        let connected = async {
            let pool = PgPoolOptions::new()
                .max_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(opts.clone())
                .await?;
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let mut listener = tokio::select! {
            _ = &mut stopped => return,
            l = connected => match l {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "token cache: cannot listen; tokens are not kept");
                    tokio::select! {
                        _ = &mut stopped => return,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    }
                }
            },
        };
        match inner.upgrade() {
            Some(cache) => {
                cache.forget_all();
                cache.listening.store(true, Ordering::SeqCst);
            }
            None => return,
        }
        loop {
            let got = tokio::select! {
                _ = &mut stopped => return,
                got = listener.try_recv() => got,
            };
            let Some(cache) = inner.upgrade() else { return };
            match got {
                // A notification; or the connection was lost and is back,
                // any notification in between gone.
                Ok(_) => cache.forget_all(),
                Err(e) => {
                    tracing::warn!(error = %e, "token cache: listening failed; tokens are not kept");
                    cache.listening.store(false, Ordering::SeqCst);
                    cache.forget_all();
                    break;
                }
            }
        }
    }
}
