//! Transparent huge pages, off for the server process (as Redis's `disable-thp yes`).
//!
//! mimalloc asks for huge pages on its arenas (`madvise(MADV_HUGEPAGE)`), and with
//! the kernel's usual `defrag = madvise` a fault in such a region may compact memory
//! synchronously to find 2 MiB: the event loop stalls for milliseconds while the
//! dataset grows. Measured with 4 KiB SETs (50 clients, `everysec`): 33K requests/s
//! with a p99 of 8-12 ms with huge pages, 52-59K and 2.3-2.9 ms without, and a third
//! of the CPU had gone to zeroing fresh huge pages. Huge pages also turn a
//! copy-on-write of a few bytes into a copy of 2 MiB.
#![expect(unsafe_code, reason = "prctl(2) has no safe wrapper in std")]

use std::io;

/// Turns transparent huge pages off for this process and its children (later page
/// faults get base pages, whatever `madvise` says).
pub fn disable_transparent_huge_pages() -> io::Result<()> {
    // SAFETY: PR_SET_THP_DISABLE takes plain integer arguments and touches no memory
    // of ours.
    let rc = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Whether transparent huge pages are off for this process.
pub fn transparent_huge_pages_disabled() -> io::Result<bool> {
    // SAFETY: PR_GET_THP_DISABLE takes plain integer arguments and touches no memory
    // of ours.
    let rc = unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) };
    match rc {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(io::Error::last_os_error()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disabling_is_visible_to_the_process() {
        // Each test binary is its own process; this one only ever disables.
        disable_transparent_huge_pages().expect("prctl(PR_SET_THP_DISABLE)");
        assert!(transparent_huge_pages_disabled().expect("prctl(PR_GET_THP_DISABLE)"));
    }
}
