//! The scripts running now, for SCRIPT KILL and for the busy reply other clients get
//! once a script has run longer than `busy-reply-threshold` (`lua-time-limit`).
//!
//! Only a *probe* can be killed: it has changed nothing, and it runs on this node
//! alone. A script applied from the log runs on every replica, so stopping it on one
//! would make the replicas differ; SCRIPT KILL answers UNKILLABLE for it, as Redis
//! does for a script that has written.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

/// `busy-reply-threshold` in ms (Redis's default 5000).
static THRESHOLD_MS: AtomicU64 = AtomicU64::new(5000);
/// Scripts running, for a cheap "none" check on every request.
static RUNNING_COUNT: AtomicUsize = AtomicUsize::new(0);
static RUNNING: Mutex<Vec<Arc<Running>>> = Mutex::new(Vec::new());

/// Sets `busy-reply-threshold`.
pub fn set_threshold_ms(ms: u64) {
    THRESHOLD_MS.store(ms, Ordering::Relaxed);
}

/// The current `busy-reply-threshold`.
pub fn threshold_ms() -> u64 {
    THRESHOLD_MS.load(Ordering::Relaxed)
}

/// One script running.
#[derive(Debug)]
pub struct Running {
    started: Instant,
    /// A probe (killable) rather than a log entry being applied.
    probe: bool,
    kill: AtomicBool,
}

impl Running {
    /// True once SCRIPT KILL asked this script to stop.
    pub fn killed(&self) -> bool {
        self.kill.load(Ordering::Relaxed)
    }

    /// True once the script has run past the busy threshold.
    pub fn timed_out(&self) -> bool {
        self.started.elapsed().as_millis() as u64 >= threshold_ms()
    }
}

/// Registration of a running script; dropping it ends the registration.
#[derive(Debug)]
pub struct Registration(Arc<Running>);

impl Registration {
    /// Registers a script starting now.
    pub fn start(probe: bool) -> Self {
        let running = Arc::new(Running {
            started: Instant::now(),
            probe,
            kill: AtomicBool::new(false),
        });
        lock().push(running.clone());
        RUNNING_COUNT.fetch_add(1, Ordering::Relaxed);
        Registration(running)
    }

    /// The script's state.
    pub fn running(&self) -> &Arc<Running> {
        &self.0
    }

    /// When the script started.
    pub fn started(&self) -> Instant {
        self.0.started
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        lock().retain(|r| !Arc::ptr_eq(r, &self.0));
        RUNNING_COUNT.fetch_sub(1, Ordering::Relaxed);
    }
}

/// True while some script has run past the busy threshold: other clients get the
/// busy reply.
pub fn busy() -> bool {
    RUNNING_COUNT.load(Ordering::Relaxed) > 0 && lock().iter().any(|r| r.timed_out())
}

/// What SCRIPT KILL did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kill {
    /// No script runs.
    NotBusy,
    /// The running probes were told to stop.
    Killed,
    /// Only scripts applied from the log run; they cannot be stopped.
    Unkillable,
}

/// SCRIPT KILL.
pub fn kill() -> Kill {
    let running = lock();
    if running.is_empty() {
        return Kill::NotBusy;
    }
    let mut killed = false;
    for script in running.iter().filter(|r| r.probe) {
        script.kill.store(true, Ordering::Relaxed);
        killed = true;
    }
    if killed {
        Kill::Killed
    } else {
        Kill::Unkillable
    }
}

fn lock() -> std::sync::MutexGuard<'static, Vec<Arc<Running>>> {
    RUNNING.lock().unwrap_or_else(PoisonError::into_inner)
}
