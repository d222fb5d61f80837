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
    dir: tempfile::TempDir,
    binary: PathBuf,
    args: Vec<String>,
}

impl TestNode {
    /// Starts `binary server --port 0` with `extra` flags and waits until it is ready.
    pub fn start(binary: impl AsRef<Path>, extra: &[&str]) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir().context("creating a temporary data directory")?;
        let mut node = TestNode {
            child: None,
            port: 0,
            nbd_port: None,
            http_port: None,
            unixsocket: None,
            dir,
            binary: binary.as_ref().to_path_buf(),
            args: extra.iter().map(|s| (*s).to_owned()).collect(),
        };
        node.spawn()?;
        Ok(node)
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let ready = self.dir.path().join("ready.json");
        let _ = std::fs::remove_file(&ready);
        let data = self.dir.path().join("data");
        let mut cmd = Command::new(&self.binary);
        cmd.arg("server")
            .arg("--port")
            .arg("0")
            .arg("--data-dir")
            .arg(&data)
            .arg("--ready-file")
            .arg(&ready)
            .arg("--http-port")
            .arg("0")
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(if std::env::var_os("OKAPI_TEST_LOG").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            });
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {}", self.binary.display()))?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(text) = std::fs::read_to_string(&ready) {
                let json: serde_json::Value =
                    serde_json::from_str(&text).context("parsing the ready file")?;
                self.port = json["port"].as_u64().context("ready file without port")? as u16;
                self.unixsocket = json["unixsocket"].as_str().map(PathBuf::from);
                self.nbd_port = json["nbd_port"].as_u64().map(|p| p as u16);
                self.http_port = json["http_port"].as_u64().map(|p| p as u16);
                break;
            }
            if let Some(status) = child.try_wait()? {
                bail!("okapi exited before it was ready: {status}");
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                bail!("okapi did not become ready within 30 s");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.child = Some(child);
        Ok(())
    }

    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A scratch directory owned by this node's test.
    pub fn scratch(&self) -> &Path {
        self.dir.path()
    }

    /// `redis://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
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
