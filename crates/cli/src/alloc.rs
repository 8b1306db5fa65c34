//! The allocator and how soon it gives freed memory back.
//!
//! glibc's allocator keeps an arena per busy thread and rarely gives freed
//! pages back, so a server that once built a large answer on many blocking
//! threads kept its peak as RSS; mimalloc returns them (docs/operations.md).
//!
//! mimalloc by default keeps a freed page for 10 ms before returning it.
//! With that, the memory a long breakdown had used (~100 MB of groups, names
//! and rows, freed when the answer is sent) stayed resident in the heaps of
//! the many blocking threads reads run on, and the server serving `large`
//! peaked at 421–524 MB (BENCH.md: 400). Returned at once, the same run
//! peaked at 269–335 MB, but every answer faulted its pages in again.
//!
//! Since answers carry ids until the page is cut (query.rs `IdGroups`), a
//! long breakdown uses ~30 MB, not ~100: kept 250 ms, the pages serve the
//! next answers, the 180-day breakdowns take half the time (p50 on
//! `large`: 33 → 20–23 ms and 45 → 22 ms), and the run peaks at 327 MB
//! (docs/operations.md, memory). `MIMALLOC_PURGE_DELAY` (milliseconds),
//! when set, is left to mimalloc.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in the mimalloc v2 that libmimalloc-sys builds
/// (c_src/mimalloc/v2/include/mimalloc.h: between `eager_commit_delay`, 14,
/// and `use_numa_nodes`, 16, which the crate does export).
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// How long freed pages are kept before they go back to the system (ms).
const KEEP_FREED_MS: std::ffi::c_long = 250;

/// Freed pages go back to the system after `KEEP_FREED_MS`, unless the
/// environment says otherwise.
#[allow(unsafe_code)]
pub fn keep_freed_pages_briefly() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: sets one of mimalloc's documented options (an integer), which
    // mimalloc reads atomically; callable at any time from any thread.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, KEEP_FREED_MS) };
}

#[cfg(test)]
mod tests {
    /// The option set is the one mimalloc reads `MIMALLOC_PURGE_DELAY` into:
    /// a child process started with the variable reports its value there.
    #[test]
    #[allow(unsafe_code)]
    fn the_option_is_the_purge_delay() {
        if let Ok(v) = std::env::var("SPENDLENS_ALLOC_PROBE") {
            // SAFETY: reads one of mimalloc's integer options.
            let got = unsafe { libmimalloc_sys::mi_option_get(super::PURGE_DELAY) };
            assert_eq!(
                got.to_string(),
                v,
                "mimalloc read MIMALLOC_PURGE_DELAY elsewhere"
            );
            return;
        }
        let me = std::env::current_exe().unwrap();
        let out = std::process::Command::new(me)
            .args([
                "--exact",
                "alloc::tests::the_option_is_the_purge_delay",
                "--nocapture",
            ])
            .env("SPENDLENS_ALLOC_PROBE", "37")
            .env("MIMALLOC_PURGE_DELAY", "37")
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && said.contains("1 passed"), "{said}");
    }
}
