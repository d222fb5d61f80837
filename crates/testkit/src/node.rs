//! One `okapi server` process for a test.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// A running `okapi server` on loopback; killed (by PID) when dropped.
pub struct TestNode {
    child: Option<Child>,
    /// RESP port.
    pub port: u16,
    /// Unix socket, when started with one.
    pub unixsocket: Option<PathBuf>,
    /// NBD port, when started with `--nbd-port`.
    pub nbd_port: Option<u16>,
    /// HTTP port (every test node serves HTTP on a free port).
    pub http_port: Option<u16>,
    /// Cluster port, when started with `--cluster-enabled`.
    pub cluster_port: Option<u16>,
    /// The address it listens on: the `--bind` given, else 127.0.0.1.
    pub host: String,
    dir: tempfile::TempDir,
    binary: PathBuf,
    args: Vec<String>,
}

impl TestNode {
    /// Starts `binary server --port 0` with `extra` flags and waits until it is ready.
    pub fn start(binary: impl AsRef<Path>, extra: &[&str]) -> anyhow::Result<Self> {
        Self::start_from(binary, None, extra)
    }

    /// As [`TestNode::start`], on a copy of the data directory `data` (a fixture) when
    /// given.
    pub fn start_from(
        binary: impl AsRef<Path>,
        data: Option<&Path>,
        extra: &[&str],
    ) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir().context("creating a temporary data directory")?;
        let mut node = TestNode {
            child: None,
            port: 0,
            nbd_port: None,
            http_port: None,
            cluster_port: None,
            host: extra
                .windows(2)
                .find(|w| w[0] == "--bind")
                .map_or_else(|| "127.0.0.1".to_owned(), |w| w[1].to_owned()),
            unixsocket: None,
            dir,
            binary: binary.as_ref().to_path_buf(),
            args: extra.iter().map(|s| (*s).to_owned()).collect(),
        };
        if let Some(data) = data {
            copy_dir(data, &node.data_dir())?;
        }
        node.spawn()?;
        Ok(node)
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        self.launch()?;
        self.wait_ready(Duration::from_secs(30))
    }

    /// Starts the process without waiting for it to be ready (see
    /// [`TestNode::wait_ready`]): its listeners come up before its data is loaded.
    /// Its standard error goes to [`TestNode::log_path`] (appended across restarts),
    /// or to the test's own with `OKAPI_TEST_LOG` set.
    pub fn launch(&mut self) -> anyhow::Result<()> {
        let _ = std::fs::remove_file(self.ready_path());
        let stderr = if std::env::var_os("OKAPI_TEST_LOG").is_some() {
            Stdio::inherit()
        } else {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.log_path())
                .context("opening the server's log file")?
                .into()
        };
        let child = self
            .command()
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("starting {}", self.binary.display()))?;
        self.child = Some(child);
        Ok(())
    }

    /// The command that starts this node: `server` on free ports with its data
    /// directory and ready file, then the test's flags.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(&self.binary);
        cmd.arg("server");
        if !self.args.iter().any(|a| a == "--port") {
            cmd.arg("--port").arg("0");
        }
        cmd.arg("--data-dir")
            .arg(self.data_dir())
            .arg("--ready-file")
            .arg(self.ready_path())
            .arg("--http-port")
            .arg("0")
            .args(&self.args);
        cmd
    }

    /// Waits until the launched process has written its ready file, and reads the
    /// ports from it.
    pub fn wait_ready(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let ready = self.ready_path();
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(text) = std::fs::read_to_string(&ready) {
                let json: serde_json::Value =
                    serde_json::from_str(&text).context("parsing the ready file")?;
                self.port = json["port"].as_u64().context("ready file without port")? as u16;
                self.unixsocket = json["unixsocket"].as_str().map(PathBuf::from);
                self.nbd_port = json["nbd_port"].as_u64().map(|p| p as u16);
                self.http_port = json["http_port"].as_u64().map(|p| p as u16);
                self.cluster_port = json["cluster_port"].as_u64().map(|p| p as u16);
                return Ok(());
            }
            let Some(child) = self.child.as_mut() else {
                bail!("not running");
            };
            if let Some(status) = child.try_wait()? {
                self.child = None;
                bail!("okapi exited before it was ready: {status}");
            }
            if Instant::now() > deadline {
                self.kill();
                bail!("okapi did not become ready within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Where the ready file goes.
    pub fn ready_path(&self) -> PathBuf {
        self.dir.path().join("ready.json")
    }

    /// Where the server's standard error goes.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// What the server has logged so far (empty with `OKAPI_TEST_LOG`).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// The test's flags the node starts with.
    pub fn args(&self) -> &[String] {
        &self.args
    }

    /// Replaces the test's flags for the next start.
    pub fn set_args(&mut self, extra: &[&str]) {
        self.args = extra.iter().map(|s| (*s).to_owned()).collect();
    }

    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A scratch directory owned by this node's test.
    pub fn scratch(&self) -> &Path {
        self.dir.path()
    }

    /// `redis://HOST:PORT/`.
    pub fn url(&self) -> String {
        format!("redis://{}:{}/", self.host, self.port)
    }

    /// `HOST:PORT`, as clients and `okapi cluster` name the node.
    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// Stops the process (SIGSTOP) until [`TestNode::resume`]: a node that hangs.
    pub fn pause(&self) -> anyhow::Result<()> {
        self.signal("-STOP")
    }

    /// Resumes a paused process (SIGCONT).
    pub fn resume(&self) -> anyhow::Result<()> {
        self.signal("-CONT")
    }

    fn signal(&self, signal: &str) -> anyhow::Result<()> {
        let pid = self.pid().context("not running")?;
        let status = Command::new("kill")
            .arg(signal)
            .arg(pid.to_string())
            .status()?;
        if !status.success() {
            bail!("kill {signal} {pid} failed");
        }
        Ok(())
    }

    /// A new RESP2 connection.
    pub fn client(&self) -> anyhow::Result<redis::Connection> {
        Ok(redis::Client::open(self.url())?.get_connection()?)
    }

    /// A new RESP3 connection.
    pub fn client_resp3(&self) -> anyhow::Result<redis::Connection> {
        Ok(redis::Client::open(format!("{}?protocol=resp3", self.url()))?.get_connection()?)
    }

    /// The process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Sends SIGKILL and waits for the process to exit.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends SIGTERM and waits up to `timeout` for a clean exit; returns the status.
    pub fn terminate(&mut self, timeout: Duration) -> anyhow::Result<std::process::ExitStatus> {
        let Some(mut child) = self.child.take() else {
            bail!("not running")
        };
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()?;
        if !status.success() {
            // Never leave the process behind.
            let _ = child.kill();
            let _ = child.wait();
            bail!("kill -TERM failed");
        }
        wait_for_exit(child, timeout, " of SIGTERM")
    }

    /// Waits until the process exits on its own (after SHUTDOWN).
    pub fn wait_exit(&mut self, timeout: Duration) -> anyhow::Result<std::process::ExitStatus> {
        let Some(child) = self.child.take() else {
            bail!("not running")
        };
        wait_for_exit(child, timeout, "")
    }

    /// Starts the same node again (same data directory, a new port).
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.kill();
        self.spawn()
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits up to `timeout` for `child` to exit; past it, kills it and fails saying it
/// did not exit within `timeout` followed by `after` (e.g. " of SIGTERM").
fn wait_for_exit(
    mut child: Child,
    timeout: Duration,
    after: &str,
) -> anyhow::Result<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("okapi did not exit within {timeout:?}{after}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Copies the directory tree `from` to `to` (created).
fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)
                .with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(())
}
