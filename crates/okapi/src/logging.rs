//! The server's log: tracing with a filter CONFIG SET can change, written by a thread
//! of its own through a bounded queue, so the log can never stop the server. A sink
//! that fails (a closed pipe, a full disk) or cannot keep up (a reader that stopped
//! reading) costs log lines, which are counted for INFO, never a panic and never a
//! blocked event loop. `--logfile` is reopened on SIGHUP, after logrotate moved it.

use std::fs::{File, OpenOptions};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::Duration;

use anyhow::Context;
use okapi_server::LogLevel;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry, reload};

/// Lines queued for the writer thread before new ones are dropped.
const QUEUE_LINES: usize = 16 * 1024;

/// The filter a Redis log level stands for. okapi's own crates (targets `okapi*`) get
/// the detail; everything else stays at `warn`, and openraft at `error` unless asked
/// for detail: it warns on every heartbeat a down peer misses (many lines a second
/// per group), and okapi's transport logs a peer going down and coming back once.
fn directives(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Debug => "warn,okapi=trace",
        LogLevel::Verbose => "warn,okapi=debug",
        LogLevel::Notice => "warn,openraft=error,okapi=info",
        LogLevel::Warning => "warn,openraft=error",
        LogLevel::Nothing => "off",
    }
}

enum Message {
    Line(Vec<u8>),
    Flush(std::sync::mpsc::Sender<()>),
}

struct SinkState {
    dropped: AtomicU64,
    reopen: AtomicBool,
}

/// Where formatted lines go: a handle on the writer thread's queue.
#[derive(Clone)]
pub struct LogSink {
    queue: SyncSender<Message>,
    state: Arc<SinkState>,
}

impl LogSink {
    fn send(&self, message: Message) -> bool {
        match self.queue.try_send(message) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.state.dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Asks the writer to reopen the log file before its next line (SIGHUP).
    pub fn reopen(&self) {
        self.state.reopen.store(true, Ordering::Relaxed);
    }

    /// Waits up to `timeout` for the queued lines to be written (at exit; a sink that
    /// blocks is given up on).
    pub fn flush(&self, timeout: Duration) {
        let (done, wait) = std::sync::mpsc::channel();
        if self.send(Message::Flush(done)) {
            let _ = wait.recv_timeout(timeout);
        }
    }
}

/// One event's bytes, queued whole when tracing is done writing it.
pub struct LineWriter<'a> {
    sink: &'a LogSink,
    line: Vec<u8>,
}

impl Write for LineWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.line.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter<'_> {
    fn drop(&mut self) {
        if !self.line.is_empty() {
            self.sink
                .send(Message::Line(std::mem::take(&mut self.line)));
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogSink {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter {
            sink: self,
            line: Vec::with_capacity(256),
        }
    }
}

/// The log's destination, owned by the writer thread.
enum Target {
    Stderr,
    File(PathBuf, Option<File>),
}

fn open_log(path: &PathBuf) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

impl Target {
    fn write(&mut self, line: &[u8]) -> std::io::Result<()> {
        match self {
            Target::Stderr => std::io::stderr().write_all(line),
            Target::File(path, file) => {
                if file.is_none() {
                    *file = Some(open_log(path)?);
                }
                match file {
                    Some(f) => f.write_all(line),
                    None => Ok(()),
                }
            }
        }
    }

    fn reopen(&mut self) {
        if let Target::File(path, file) = self {
            // A failed open is retried at the next line.
            *file = open_log(path).ok();
        }
    }
}

fn write_lines(mut target: Target, queue: Receiver<Message>, state: Arc<SinkState>) {
    loop {
        let message = match queue.recv_timeout(Duration::from_millis(500)) {
            Ok(message) => Some(message),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        if state.reopen.swap(false, Ordering::Relaxed) {
            target.reopen();
        }
        match message {
            Some(Message::Line(line)) if target.write(&line).is_err() => {
                state.dropped.fetch_add(1, Ordering::Relaxed);
            }
            Some(Message::Flush(done)) => {
                let _ = done.send(());
            }
            Some(Message::Line(_)) | None => {}
        }
    }
}

/// The running log: the sink and the filter's reload handle.
#[derive(Clone)]
pub struct Log {
    sink: LogSink,
    filter: reload::Handle<EnvFilter, Registry>,
}

impl Log {
    /// The sink, for SIGHUP and the final flush.
    pub fn sink(&self) -> &LogSink {
        &self.sink
    }
}

impl okapi_server::Logging for Log {
    fn set_level(&self, level: LogLevel) {
        if let Err(e) = self.filter.reload(EnvFilter::new(directives(level))) {
            tracing::warn!(error = %e, "cannot change the log level");
        }
    }

    fn dropped_lines(&self) -> u64 {
        self.sink.state.dropped.load(Ordering::Relaxed)
    }
}

/// Starts the log: `OKAPI_LOG` or `RUST_LOG` (tracing filter syntax) win over `level`
/// at start; `json` picks JSON lines; `logfile` replaces standard error. Colour only
/// when the sink is a terminal.
pub fn init(level: LogLevel, json: bool, logfile: Option<PathBuf>) -> anyhow::Result<Log> {
    let filter = std::env::var("OKAPI_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|spec| EnvFilter::try_new(spec).ok())
        .unwrap_or_else(|| EnvFilter::new(directives(level)));
    let (filter, handle) = reload::Layer::new(filter);
    let ansi = logfile.is_none() && std::io::stderr().is_terminal();
    let target = match logfile {
        Some(path) => {
            let file = open_log(&path).with_context(|| format!("opening {}", path.display()))?;
            Target::File(path, Some(file))
        }
        None => Target::Stderr,
    };
    let (queue, lines) = std::sync::mpsc::sync_channel(QUEUE_LINES);
    let state = Arc::new(SinkState {
        dropped: AtomicU64::new(0),
        reopen: AtomicBool::new(false),
    });
    let thread_state = state.clone();
    std::thread::Builder::new()
        .name("okapi-log".to_owned())
        .spawn(move || write_lines(target, lines, thread_state))
        .context("starting the log writer thread")?;
    let sink = LogSink { queue, state };
    let format = tracing_subscriber::fmt::layer()
        .with_writer(sink.clone())
        .with_ansi(ansi)
        .log_internal_errors(false);
    let format = if json {
        format.json().boxed()
    } else {
        format.boxed()
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(format)
        .try_init()
        .context("installing the logger")?;
    Ok(Log {
        sink,
        filter: handle,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_drops_and_counts_instead_of_blocking() {
        let (queue, _lines) = std::sync::mpsc::sync_channel(1);
        let sink = LogSink {
            queue,
            state: Arc::new(SinkState {
                dropped: AtomicU64::new(0),
                reopen: AtomicBool::new(false),
            }),
        };
        for _ in 0..3 {
            let mut w = tracing_subscriber::fmt::MakeWriter::make_writer(&sink);
            w.write_all(b"line\n").expect("buffered");
        }
        assert_eq!(sink.state.dropped.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn a_failing_target_counts_lines_and_keeps_going() {
        let (queue, lines) = std::sync::mpsc::sync_channel(8);
        let state = Arc::new(SinkState {
            dropped: AtomicU64::new(0),
            reopen: AtomicBool::new(false),
        });
        // A directory cannot be opened for appending: every write fails.
        let dir = tempfile::tempdir().expect("tempdir");
        let target = Target::File(dir.path().to_path_buf(), None);
        let thread_state = state.clone();
        let writer = std::thread::spawn(move || write_lines(target, lines, thread_state));
        let sink = LogSink { queue, state };
        sink.send(Message::Line(b"a\n".to_vec()));
        sink.send(Message::Line(b"b\n".to_vec()));
        sink.flush(Duration::from_secs(10));
        assert_eq!(sink.state.dropped.load(Ordering::Relaxed), 2);
        drop(sink);
        writer
            .join()
            .expect("the writer ends when the sink is gone");
    }
}
