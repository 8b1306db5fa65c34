//! A scheduling hint for the server's request threads.
//!
//! On two cores the single writer thread and the ingest parsers can keep
//! both cores busy. A short request (the budget check an IDE asks before each
//! call) then waits for the running thread's time slice to end, a few
//! milliseconds under Linux's EEVDF scheduler. Since Linux 6.12 a thread may
//! ask for a shorter slice (`sched_attr.sched_runtime`, no privilege needed),
//! and a waking thread with a shorter slice than the running one preempts it.
//! The request threads ask for the shortest slice; the writer keeps the
//! default, so it yields to a request the moment one arrives: the hint is
//! asked with `SCHED_FLAG_RESET_ON_FORK`, so threads the store starts (the
//! writer, the checkpointer) begin with the default slice. Older kernels
//! accept the call and ignore the slice; other systems skip it.

/// The shortest slice the kernel accepts (100 µs).
const SLICE_NANOS: u64 = 100_000;
const SCHED_FLAG_RESET_ON_FORK: u64 = 0x01;

/// Asks for a short slice for the calling thread; false if the kernel refused.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub fn short_slice() -> bool {
    // The kernel's `struct sched_attr` (include/uapi/linux/sched/types.h),
    // first version (48 bytes); the kernel accepts this size from any caller.
    #[repr(C)]
    struct SchedAttr {
        size: u32,
        policy: u32,
        flags: u64,
        nice: i32,
        priority: u32,
        runtime: u64,
        deadline: u64,
        period: u64,
    }
    // SAFETY: getpriority and sched_setattr only read their arguments; the
    // struct lives for the call and its `size` field tells the kernel its length.
    unsafe {
        *libc::__errno_location() = 0;
        let nice = libc::getpriority(libc::PRIO_PROCESS, 0);
        if nice == -1 && *libc::__errno_location() != 0 {
            return false;
        }
        let attr = SchedAttr {
            size: std::mem::size_of::<SchedAttr>() as u32,
            policy: libc::SCHED_OTHER as u32,
            flags: SCHED_FLAG_RESET_ON_FORK,
            nice,
            priority: 0,
            runtime: SLICE_NANOS,
            deadline: 0,
            period: 0,
        };
        libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0u32) == 0
    }
}

#[cfg(not(target_os = "linux"))]
pub fn short_slice() -> bool {
    false
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// The calling thread's slice as the scheduler's debug file shows it
    /// (kernels built with scheduler debugging, as Debian's are).
    fn slice_here() -> Option<u64> {
        let text = std::fs::read_to_string("/proc/thread-self/sched").ok()?;
        let line = text.lines().find(|l| l.starts_with("se.slice"))?;
        line.split(':').nth(1)?.trim().parse().ok()
    }

    #[test]
    fn the_asking_thread_gets_the_short_slice_and_threads_it_starts_do_not() {
        let (granted, mine, child) = std::thread::spawn(|| {
            let granted = short_slice();
            let child = std::thread::spawn(slice_here).join().expect("child thread");
            (granted, slice_here(), child)
        })
        .join()
        .expect("asking thread");
        assert!(granted, "sched_setattr refused the hint");
        if let (Some(mine), Some(child)) = (mine, child) {
            assert_eq!(mine, SLICE_NANOS);
            assert_ne!(
                child, SLICE_NANOS,
                "a thread the store starts must keep the default slice"
            );
        }
    }
}
