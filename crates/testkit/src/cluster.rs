//! Several `okapi server` processes formed into one cluster.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::node::TestNode;

/// A port free on `host` now (the kernel picks it; it stays free until a node takes
/// it, unless another process is quicker).
fn free_port(host: &str) -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind((host, 0)).with_context(|| {
        format!("binding {host} (every 127.0.0.0/8 address is loopback on Linux)")
    })?;
    Ok(listener.local_addr()?.port())
}

/// Nodes of one cluster, node `i` on `127.0.0.{i+2}` (so a test can cut traffic
/// between two nodes by address), each with its own data directory.
pub struct TestCluster {
    /// The nodes, in the order given to `okapi cluster create`.
    pub nodes: Vec<TestNode>,
    binary: PathBuf,
}

impl TestCluster {
    /// Starts `n` cluster-enabled nodes (not yet formed) with `extra` flags each.
    pub fn start(binary: impl AsRef<Path>, n: usize, extra: &[&str]) -> anyhow::Result<Self> {
        let mut cluster = Self {
            nodes: Vec::with_capacity(n),
            binary: binary.as_ref().to_path_buf(),
        };
        for _ in 0..n {
            cluster.start_node(extra)?;
        }
        Ok(cluster)
    }

    /// Starts one more cluster-enabled node on the next address, in no cluster yet
    /// (for `okapi cluster add-node`); returns its index.
    pub fn start_node(&mut self, extra: &[&str]) -> anyhow::Result<usize> {
        let i = self.nodes.len();
        let host = format!("127.0.0.{}", i + 2);
        // Fixed ports, so a restarted node is where the cluster map says it is.
        let port = free_port(&host)?.to_string();
        let cluster_port = free_port(&host)?.to_string();
        let mut args = vec![
            "--bind",
            host.as_str(),
            "--port",
            port.as_str(),
            "--cluster-port",
            cluster_port.as_str(),
            "--cluster-enabled",
        ];
        args.extend_from_slice(extra);
        self.nodes.push(
            TestNode::start(&self.binary, &args)
                .with_context(|| format!("starting node {i} on {host}"))?,
        );
        Ok(i)
    }

    /// Starts `n` nodes and forms the cluster with `okapi cluster create` and
    /// `create_args` (e.g. `--groups 3`); returns the cluster and the tool's output.
    pub fn form(
        binary: impl AsRef<Path>,
        n: usize,
        extra: &[&str],
        create_args: &[&str],
    ) -> anyhow::Result<(Self, String)> {
        let cluster = Self::start(binary, n, extra)?;
        let out = cluster.create(create_args)?;
        Ok((cluster, out))
    }

    /// Runs `okapi cluster create` over every node; returns its standard output.
    pub fn create(&self, args: &[&str]) -> anyhow::Result<String> {
        let mut cmd = Command::new(&self.binary);
        cmd.arg("cluster").arg("create");
        for node in &self.nodes {
            cmd.arg(node.addr());
        }
        let out = cmd
            .args(args)
            .output()
            .context("running okapi cluster create")?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            bail!(
                "okapi cluster create failed: {}{stdout}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(stdout)
    }

    /// Runs the `okapi` binary with `args`; returns (success, stdout, stderr).
    pub fn okapi(&self, args: &[&str]) -> anyhow::Result<(bool, String, String)> {
        let out = Command::new(&self.binary).args(args).output()?;
        Ok((
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    }

    /// `host:port` of every running node but node `except`.
    pub fn nodes_except(&self, except: usize) -> Vec<String> {
        self.nodes
            .iter()
            .enumerate()
            .filter(|(i, n)| *i != except && n.pid().is_some())
            .map(|(_, n)| n.addr())
            .collect()
    }

    /// `redis://` URLs of every running node.
    pub fn urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|n| n.pid().is_some())
            .map(TestNode::url)
            .collect()
    }

    /// A cluster client (the `redis` crate's), seeded with every running node.
    pub fn client(&self) -> anyhow::Result<redis::cluster::ClusterConnection> {
        let client = redis::cluster::ClusterClientBuilder::new(self.urls())
            .retries(20)
            .min_retry_wait(20)
            .max_retry_wait(200)
            .connection_timeout(Duration::from_secs(2))
            .response_timeout(Duration::from_secs(5))
            .build()?;
        Ok(client.get_connection()?)
    }

    /// Waits until every running node answers `cluster_state:ok` (every slot has a
    /// leader it knows), up to `timeout`; returns how long it took.
    pub fn wait_ok(&self, timeout: Duration) -> anyhow::Result<Duration> {
        let started = Instant::now();
        loop {
            let ok = self.nodes.iter().filter(|n| n.pid().is_some()).all(|n| {
                n.client()
                    .and_then(|mut c| {
                        Ok(redis::cmd("CLUSTER").arg("INFO").query::<String>(&mut c)?)
                    })
                    .is_ok_and(|info| info.contains("cluster_state:ok"))
            });
            if ok {
                return Ok(started.elapsed());
            }
            if started.elapsed() > timeout {
                bail!("the cluster is not ok after {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The index of the node that leads the group serving `key`, as the node at
    /// `asked` reports it in CLUSTER SLOTS.
    pub fn leader_of(&self, key: &str, asked: usize) -> anyhow::Result<usize> {
        let mut c = self.nodes[asked].client()?;
        let slot: i64 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(key)
            .query(&mut c)?;
        let slots: Vec<redis::Value> = redis::cmd("CLUSTER").arg("SLOTS").query(&mut c)?;
        for range in slots {
            let redis::Value::Array(parts) = range else {
                continue;
            };
            let (Some(redis::Value::Int(a)), Some(redis::Value::Int(b))) =
                (parts.first(), parts.get(1))
            else {
                continue;
            };
            if (*a..=*b).contains(&slot)
                && let Some(redis::Value::Array(leader)) = parts.get(2)
                && let (Some(redis::Value::BulkString(host)), Some(redis::Value::Int(port))) =
                    (leader.first(), leader.get(1))
            {
                let addr = format!("{}:{port}", String::from_utf8_lossy(host));
                return self
                    .nodes
                    .iter()
                    .position(|n| n.addr() == addr)
                    .with_context(|| format!("no node at {addr}"));
            }
        }
        bail!("no slot range holds slot {slot}")
    }
}
