//! CLIENT PAUSE: while a pause lasts, commands of normal clients wait before they
//! run — every command (`ALL`), or only those that write or may replicate (`WRITE`:
//! writes, PUBLISH, and an EXEC that queued one), as Redis 7.0 decides. A later pause
//! can only make the current one longer or stricter; CLIENT UNPAUSE ends it. Active
//! expiry waits too, so no key disappears while clients are held.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::watch;
use tokio::time::Instant;

/// What a pause holds back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PauseMode {
    /// Writes and commands that may replicate.
    Write,
    /// Everything.
    All,
}

/// The node's client pause.
pub struct ClientPause {
    /// Fast path: false unless a pause was set (it may have expired since).
    set: AtomicBool,
    state: Mutex<Option<(Instant, PauseMode)>>,
    changed: watch::Sender<u64>,
}

impl Default for ClientPause {
    fn default() -> Self {
        Self {
            set: AtomicBool::new(false),
            state: Mutex::new(None),
            changed: watch::channel(0).0,
        }
    }
}

impl ClientPause {
    /// Pauses until `until` (merged with a pause under way: the later end and the
    /// stricter mode win, as in Redis).
    pub fn pause(&self, until: Instant, mode: PauseMode) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let merged = match *state {
            Some((end, old)) if end > Instant::now() => (end.max(until), old.max(mode)),
            _ => (until, mode),
        };
        *state = Some(merged);
        self.set.store(true, Ordering::Release);
        drop(state);
        self.changed.send_modify(|n| *n += 1);
    }

    /// CLIENT UNPAUSE.
    pub fn unpause(&self) {
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = None;
        self.set.store(false, Ordering::Release);
        self.changed.send_modify(|n| *n += 1);
    }

    /// When a command that writes (`write`) or not must wait, the end of the pause.
    pub fn holds(&self, write: bool) -> Option<Instant> {
        if !self.set.load(Ordering::Acquire) {
            return None;
        }
        let state = *self.state.lock().unwrap_or_else(|e| e.into_inner());
        match state {
            Some((end, mode)) if end > Instant::now() && (write || mode == PauseMode::All) => {
                Some(end)
            }
            _ => None,
        }
    }

    /// True while any pause lasts (active expiry waits).
    pub fn active(&self) -> bool {
        self.holds(true).is_some()
    }

    /// Waits until a command that writes (`write`) or not may run.
    pub async fn wait(&self, write: bool) {
        let mut changes = self.changed.subscribe();
        while let Some(end) = self.holds(write) {
            tokio::select! {
                _ = tokio::time::sleep_until(end) => {}
                _ = changes.changed() => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn later_and_stricter_pauses_win_and_unpause_ends_them() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let pause = ClientPause::default();
            assert_eq!(pause.holds(true), None);
            let now = Instant::now();
            pause.pause(now + Duration::from_secs(60), PauseMode::Write);
            assert!(pause.holds(true).is_some());
            assert_eq!(pause.holds(false), None, "reads run under a WRITE pause");
            pause.pause(now + Duration::from_secs(1), PauseMode::All);
            assert_eq!(
                pause.holds(false),
                Some(now + Duration::from_secs(60)),
                "the later end and the stricter mode"
            );
            pause.unpause();
            assert_eq!(pause.holds(false), None);
            pause.pause(Instant::now() + Duration::from_millis(20), PauseMode::All);
            let started = Instant::now();
            pause.wait(false).await;
            assert!(started.elapsed() >= Duration::from_millis(15));
        });
    }
}
