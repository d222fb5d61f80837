//! Fsyncs for `appendfsync always`, once per event-loop iteration.
//!
//! An fsync costs the same for one entry as for fifty, so what matters is how many
//! clients each one serves. Redis writes its AOF as it processes requests and fsyncs
//! once before its event loop sleeps, so every client that was ready shares it. The
//! flusher does the same on the loop that runs the group: appends are written at
//! once and their completions queued here; [`before_park`], which the event loop
//! calls when it has nothing left to run, fsyncs and completes them. By then the
//! replies of the previous entry have gone out and every request that had arrived
//! is in the log. A task backs this up with a bounded wait, so a loop that never
//! runs out of work still fsyncs.

use std::cell::RefCell;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use okapi_storage::Wal;
use openraft::storage::IOFlushed;
use tokio::sync::Notify;

use crate::error::io_error;
use crate::types::TypeConfig;

/// How long the backup task lets a loop that never runs out of work go on before it
/// fsyncs itself. A timer, not a yield: a yielded task counts as work, and the loop
/// would never sleep (nor call `before_park`) while one waits.
const BACKUP_DELAY: Duration = Duration::from_millis(1);

thread_local! {
    /// The flushers of the event loop on this thread, for [`before_park`].
    static FLUSHERS: RefCell<Vec<Weak<Queue>>> = const { RefCell::new(Vec::new()) };
}

/// An append's completion, and the log position an fsync must reach first.
struct Waiting {
    sync_to: Option<u64>,
    done: IOFlushed<TypeConfig>,
}

struct Queue {
    wal: Wal,
    waiting: Mutex<Vec<Waiting>>,
    wake_backup: Arc<Notify>,
}

impl Queue {
    fn take(&self) -> Vec<Waiting> {
        std::mem::take(&mut *self.waiting.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn is_empty(&self) -> bool {
        self.waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty()
    }

    /// Fsyncs as far as the queued appends need and completes them, in order.
    fn flush(&self) {
        let batch = self.take();
        if batch.is_empty() {
            return;
        }
        let result = match batch.iter().filter_map(|w| w.sync_to).max() {
            Some(position) => self.wal.sync_to(position),
            None => Ok(()),
        };
        for waiting in batch {
            waiting.done.io_completed(result.clone().map_err(io_error));
        }
    }
}

/// Runs the fsyncs owed by the flushers of this thread; the event loop calls it
/// when it is about to sleep (tokio's `on_thread_park`).
pub fn before_park() {
    FLUSHERS.with_borrow_mut(|all| {
        all.retain(|q| q.strong_count() > 0);
        for queue in all.iter().filter_map(Weak::upgrade) {
            queue.flush();
        }
    });
}

/// A group's flusher (started on the first append that needs it).
pub(crate) struct Flusher {
    queue: Arc<Queue>,
}

impl Flusher {
    /// A flusher for appends made on this thread (whose event loop's idle moments
    /// flush), with its backup task on the current runtime.
    pub fn spawn(wal: Wal) -> Self {
        let queue = Arc::new(Queue {
            wal,
            waiting: Mutex::new(Vec::new()),
            wake_backup: Arc::new(Notify::new()),
        });
        FLUSHERS.with_borrow_mut(|all| all.push(Arc::downgrade(&queue)));
        tokio::spawn(backup(
            Arc::downgrade(&queue),
            Arc::clone(&queue.wake_backup),
        ));
        Self { queue }
    }

    /// Whether completions are queued: a later one must queue behind them, so
    /// openraft learns of flushes in log order even when the policy changes.
    pub fn busy(&self) -> bool {
        !self.queue.is_empty()
    }

    /// Completes `done` after the log is durable up to `sync_to` (or, with `None`,
    /// with the completions queued before it).
    pub fn complete_after(&self, sync_to: Option<u64>, done: IOFlushed<TypeConfig>) {
        let first = {
            let mut waiting = self
                .queue
                .waiting
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            waiting.push(Waiting { sync_to, done });
            waiting.len() == 1
        };
        if first {
            self.queue.wake_backup.notify_one();
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        // Nothing queued may be left uncompleted; wakes the backup task to exit.
        self.queue.flush();
        self.queue.wake_backup.notify_one();
    }
}

/// Fsyncs if the loop keeps finding work for `BACKUP_DELAY` without sleeping, so
/// `before_park` never gets its turn.
async fn backup(queue: Weak<Queue>, wake: Arc<Notify>) {
    loop {
        wake.notified().await;
        tokio::time::sleep(BACKUP_DELAY).await;
        match queue.upgrade() {
            Some(q) => q.flush(),
            None => return,
        }
    }
}
