//! `okapi cluster`: forming a cluster from running nodes and showing its state.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use okapi_client::{Client, args};
use okapi_cluster::{ClusterMap, NodeInfo};
use okapi_resp::Frame;
use okapi_server::shared::random_u64;

/// Flags of `okapi cluster`.
#[derive(Debug, Args)]
pub struct ClusterArgs {
    /// Password of the nodes' default user.
    #[arg(
        short = 'a',
        long = "pass",
        env = "OKAPI_PASSWORD",
        hide_env_values = true,
        global = true
    )]
    pass: Option<String>,
    #[command(subcommand)]
    command: ClusterCommand,
}

#[derive(Debug, Subcommand)]
enum ClusterCommand {
    /// Forms a cluster from running, empty nodes started with --cluster-enabled: the
    /// 16384 slots are split evenly over the shard groups, each group gets its
    /// replicas on different nodes, and leadership starts spread evenly. Waits until
    /// every group has a leader. When the first node holds a standalone node's data
    /// (its directory restarted with --cluster-enabled), the cluster adopts it as
    /// its one shard group, which grows to --replicas as nodes are added.
    Create {
        /// Every node, as the address clients reach it at (HOST:PORT).
        #[arg(required = true, value_name = "HOST:PORT")]
        nodes: Vec<String>,
        /// Replicas per shard group (at most the number of nodes). [default: 3, or
        /// the node count when smaller]
        #[arg(long)]
        replicas: Option<usize>,
        /// Shard groups. [default: 2 per node]
        #[arg(long)]
        groups: Option<usize>,
        /// How long to wait for every group to elect its leader, seconds.
        #[arg(long, default_value_t = 30)]
        timeout: u64,
    },
    /// Adds a running, empty node started with --cluster-enabled to the cluster of
    /// EXISTING. It receives the map, replicas of groups short of replicas, and work
    /// from `rebalance`. Waits until every group's membership matches the map. When
    /// EXISTING is in no cluster yet, it first founds one by itself (adopting the
    /// data it holds, as `create` does).
    AddNode {
        /// The new node (HOST:PORT).
        #[arg(value_name = "NEW")]
        new: String,
        /// Any node of the cluster (HOST:PORT).
        #[arg(value_name = "EXISTING")]
        existing: String,
        /// How long to wait for the groups to settle, seconds.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
    /// Removes a node: its replicas move to other nodes (each new replica catches up
    /// before the old one leaves), then the node is dropped from the map. Clients keep
    /// being served throughout.
    RemoveNode {
        /// Any node of the cluster (HOST:PORT).
        #[arg(value_name = "EXISTING")]
        existing: String,
        /// The node to remove: HOST:PORT as the cluster knows it, or its id.
        #[arg(value_name = "NODE")]
        node: String,
        /// How long to wait for its replicas to move, seconds.
        #[arg(long, default_value_t = 600)]
        timeout: u64,
    },
    /// Moves replicas, one per group at a time, until every active node holds an
    /// even share (and groups short of replicas get them).
    Rebalance {
        /// Any node of the cluster (HOST:PORT).
        #[arg(value_name = "EXISTING")]
        existing: String,
        /// How long to wait for each step to settle, seconds.
        #[arg(long, default_value_t = 600)]
        timeout: u64,
    },
    /// Shows nodes, shard groups, leaders and slot ranges as one node sees them.
    Status {
        /// A node of the cluster.
        #[arg(value_name = "HOST:PORT", default_value = "127.0.0.1:6379")]
        node: String,
    },
}

/// Runs `okapi cluster`.
pub fn run(args: ClusterArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the client runtime")?;
    runtime.block_on(async move {
        match args.command {
            ClusterCommand::Create {
                nodes,
                replicas,
                groups,
                timeout,
            } => {
                create(
                    &nodes,
                    replicas,
                    groups,
                    Duration::from_secs(timeout),
                    args.pass.as_deref(),
                )
                .await
            }
            ClusterCommand::AddNode {
                new,
                existing,
                timeout,
            } => {
                add_node(
                    &new,
                    &existing,
                    Duration::from_secs(timeout),
                    args.pass.as_deref(),
                )
                .await
            }
            ClusterCommand::RemoveNode {
                existing,
                node,
                timeout,
            } => {
                remove_node(
                    &existing,
                    &node,
                    Duration::from_secs(timeout),
                    args.pass.as_deref(),
                )
                .await
            }
            ClusterCommand::Rebalance { existing, timeout } => {
                rebalance(
                    &existing,
                    Duration::from_secs(timeout),
                    args.pass.as_deref(),
                )
                .await
            }
            ClusterCommand::Status { node } => status(&node, args.pass.as_deref()).await,
        }
    })
}

async fn connect(addr: &str, pass: Option<&str>) -> anyhow::Result<Client> {
    let mut client = Client::connect(addr)
        .await
        .with_context(|| format!("cannot connect to {addr}"))?;
    if let Some(pass) = pass {
        client
            .auth(pass)
            .await
            .with_context(|| format!("{addr}: authentication failed"))?;
    }
    Ok(client)
}

fn text(frame: &Frame) -> String {
    match frame {
        Frame::Bulk(b) | Frame::Simple(b) => String::from_utf8_lossy(b).into_owned(),
        Frame::Verbatim { text, .. } => String::from_utf8_lossy(text).into_owned(),
        other => format!("{other:?}"),
    }
}

/// `host:port` split, the host without IPv6 brackets.
fn split_addr(addr: &str) -> anyhow::Result<(String, u16)> {
    let (host, port) = addr
        .rsplit_once(':')
        .with_context(|| format!("{addr}: expected HOST:PORT"))?;
    let port = port
        .parse()
        .with_context(|| format!("{addr}: the port is not a number"))?;
    Ok((
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
        port,
    ))
}

/// What one node says about itself before it joins.
async fn describe(addr: &str, pass: Option<&str>) -> anyhow::Result<(NodeInfo, u64, i64)> {
    let (host, port) = split_addr(addr)?;
    let mut client = connect(addr, pass).await?;
    let me = client
        .call(args!["CLUSTER", "OKAPI-NODE"])
        .await
        .with_context(|| {
            format!("{addr}: not a cluster node (start it with okapi server --cluster-enabled)")
        })?;
    let Frame::Array(parts) = me else {
        bail!("{addr}: unexpected reply to CLUSTER OKAPI-NODE: {me:?}");
    };
    let (Some(name), Some(Frame::Integer(cluster_port))) = (parts.first(), parts.get(1)) else {
        bail!("{addr}: unexpected reply to CLUSTER OKAPI-NODE");
    };
    let name = text(name);
    let id = u64::from_str_radix(name.get(..16).unwrap_or(""), 16)
        .with_context(|| format!("{addr}: bad node id {name}"))?;
    let keys = match client.call(args!["DBSIZE"]).await? {
        Frame::Integer(n) => n,
        other => bail!("{addr}: unexpected reply to DBSIZE: {other:?}"),
    };
    let databases = match client.call(args!["CONFIG", "GET", "databases"]).await? {
        Frame::Array(kv) if kv.len() == 2 => text(&kv[1]).parse().unwrap_or(16),
        Frame::Map(kv) if kv.len() == 1 => text(&kv[0].1).parse().unwrap_or(16),
        _ => 16,
    };
    Ok((
        NodeInfo {
            id,
            host,
            port: u64::from(port),
            cluster_port: *cluster_port as u64,
            state: okapi_cluster::map::NodeState::Active,
        },
        databases,
        keys,
    ))
}

async fn create(
    addrs: &[String],
    replicas: Option<usize>,
    groups: Option<usize>,
    timeout: Duration,
    pass: Option<&str>,
) -> anyhow::Result<()> {
    let mut nodes = Vec::with_capacity(addrs.len());
    let mut databases = None;
    let mut adopted = 0;
    for (i, addr) in addrs.iter().enumerate() {
        let (node, dbs, keys) = describe(addr, pass).await?;
        match (i, keys) {
            (_, 0) => {}
            (0, n) => adopted = n,
            (_, n) => bail!(
                "{addr} holds {n} keys: only the first node may hold data (the cluster adopts it); the others must be empty"
            ),
        }
        if nodes.iter().any(|n: &NodeInfo| n.id == node.id) {
            bail!("{addr} is the same node as another address given");
        }
        if *databases.get_or_insert(dbs) != dbs {
            bail!(
                "{addr} has {dbs} databases, the first node {databases:?}: every node needs the same"
            );
        }
        println!(
            "node {:016x}  {addr}  (cluster port {})",
            node.id, node.cluster_port
        );
        nodes.push(node);
    }
    let map = if adopted > 0 {
        if groups.is_some_and(|g| g != 1) {
            bail!(
                "{} holds {adopted} keys: a cluster adopting a node's data has one shard group (its slots cannot be split yet); leave out --groups",
                addrs[0]
            );
        }
        let replicas = replicas.unwrap_or(3);
        let mut map = okapi_cluster::plan(
            nodes.clone(),
            1,
            replicas.min(nodes.len()),
            (random_u64(), databases.unwrap_or(16)),
            random_u64,
        )?;
        // The node fills in the group's real hash seed when it founds the cluster.
        map.groups[0].id = 0;
        map.replicas = replicas as u64;
        println!(
            "{} holds {adopted} keys: the cluster adopts them as its one shard group, which grows to {replicas} replicas as nodes are added",
            addrs[0]
        );
        map
    } else {
        let replicas = replicas.unwrap_or(nodes.len().min(3));
        let groups = groups.unwrap_or(2 * nodes.len());
        okapi_cluster::plan(
            nodes,
            groups,
            replicas,
            (random_u64(), databases.unwrap_or(16)),
            random_u64,
        )?
    };
    let replicas = map.replicas;
    let encoded = map.encode_versioned();
    // The first node founds the control group (voters: the first three nodes) and
    // commits the map; every other node receives it through its control replica.
    let mut founder = connect(&addrs[0], pass).await?;
    founder
        .call(args!["CLUSTER", "OKAPI-SETMAP", encoded])
        .await
        .with_context(|| format!("{}: the node refused the cluster map", addrs[0]))?;
    println!(
        "node {:016x} founded the cluster; control group voters: {}",
        map.nodes[0].id,
        map.nodes
            .iter()
            .take(3)
            .map(|n| format!("{:016x}", n.id))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "{} shard groups x {replicas} replicas over {} nodes; waiting for leaders...",
        map.groups.len(),
        map.nodes.len()
    );
    let deadline = Instant::now() + timeout;
    let started = Instant::now();
    loop {
        let mut ok = 0;
        for addr in addrs {
            if cluster_ok(addr, pass).await {
                ok += 1;
            }
        }
        if ok == addrs.len() {
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "{ok} of {} nodes see every slot led after {}s",
                addrs.len(),
                timeout.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "cluster ready in {} ms: every slot has a leader",
        started.elapsed().as_millis()
    );
    print_status(&addrs[0], pass).await
}

/// The cluster map `addr` follows; `None` when it is in no cluster yet.
async fn map_of(addr: &str, pass: Option<&str>) -> anyhow::Result<Option<ClusterMap>> {
    let mut client = connect(addr, pass).await?;
    match client.call(args!["CLUSTER", "OKAPI-MAP"]).await? {
        Frame::Bulk(bytes) => ClusterMap::decode_versioned(&bytes)
            .map(Some)
            .with_context(|| format!("{addr}: its cluster map does not decode")),
        Frame::Null => Ok(None),
        other => bail!("{addr}: unexpected reply to CLUSTER OKAPI-MAP: {other:?}"),
    }
}

/// The cluster map `addr` follows.
async fn fetch_map(addr: &str, pass: Option<&str>) -> anyhow::Result<ClusterMap> {
    map_of(addr, pass)
        .await?
        .with_context(|| format!("{addr} is in no cluster"))
}

/// Whether the node at `addr` sees every slot led (`cluster_state:ok`).
async fn cluster_ok(addr: &str, pass: Option<&str>) -> bool {
    let Ok(mut client) = connect(addr, pass).await else {
        return false;
    };
    client
        .call(args!["CLUSTER", "INFO"])
        .await
        .is_ok_and(|info| text(&info).contains("cluster_state:ok"))
}

/// Sends a map change to the control group's leader, starting at `addr` and
/// following its redirects; retries while the cluster cannot take it yet. Returns
/// the new epoch (0: nothing changed).
async fn control_call(
    addr: &str,
    command: Vec<okapi_client::Arg>,
    pass: Option<&str>,
    deadline: Instant,
) -> anyhow::Result<i64> {
    let mut target = addr.to_owned();
    loop {
        let mut client = connect(&target, pass).await?;
        match client.call(command.clone()).await {
            Ok(Frame::Integer(epoch)) => return Ok(epoch),
            Ok(other) => bail!("{target}: unexpected reply {other:?}"),
            Err(okapi_client::ClientError::Server(e)) => {
                let e = e.to_string();
                if let Some(leader) = e.strip_prefix("CONTROLLEADER ") {
                    if leader != "unknown" {
                        target = leader.to_owned();
                        continue;
                    }
                } else if !e.starts_with("TRYAGAIN") {
                    bail!("{target}: {e}");
                }
                if Instant::now() > deadline {
                    bail!("{target}: {e}");
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => return Err(e).with_context(|| format!("{target}: request failed")),
        }
    }
}

/// How far the groups' Raft memberships are from the map: groups whose leader
/// reports exactly the map's members as voters, and the groups in all.
async fn settled(map: &ClusterMap, pass: Option<&str>) -> (usize, usize) {
    let mut done = std::collections::BTreeSet::new();
    for node in &map.nodes {
        let Ok(mut client) = connect(&node.client_addr(), pass).await else {
            continue;
        };
        let Ok(Frame::Array(groups)) = client.call(args!["CLUSTER", "OKAPI-GROUPS"]).await else {
            continue;
        };
        for g in groups {
            let Frame::Array(parts) = g else { continue };
            let (
                Some(Frame::Integer(id)),
                Some(Frame::Array(voters)),
                Some(Frame::Array(learners)),
            ) = (parts.first(), parts.get(1), parts.get(2))
            else {
                continue;
            };
            let ids = |names: &[Frame]| -> std::collections::BTreeSet<u64> {
                names
                    .iter()
                    .filter_map(|n| u64::from_str_radix(text(n).get(..16)?, 16).ok())
                    .collect()
            };
            let Some(group) = map.groups.iter().find(|g| g.id == *id as u64) else {
                continue;
            };
            let want: std::collections::BTreeSet<u64> = group.members.iter().copied().collect();
            if learners.is_empty() && ids(voters) == want {
                done.insert(*id);
            }
        }
    }
    (done.len(), map.groups.len())
}

/// Waits until `addr` follows a map of at least `epoch` and every group's
/// membership matches it, printing progress.
async fn wait_settled(
    addr: &str,
    epoch: u64,
    pass: Option<&str>,
    deadline: Instant,
) -> anyhow::Result<ClusterMap> {
    let mut shown = None;
    loop {
        let map = fetch_map(addr, pass).await?;
        if map.epoch < epoch {
            if Instant::now() > deadline {
                bail!("{addr} has not received map epoch {epoch}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        let (done, all) = settled(&map, pass).await;
        if shown != Some((map.epoch, done)) {
            println!(
                "  epoch {}: {done}/{all} groups have their replicas in place",
                map.epoch
            );
            shown = Some((map.epoch, done));
        }
        if done == all {
            return Ok(map);
        }
        if Instant::now() > deadline {
            bail!(
                "{done} of {all} groups have their replicas in place; giving up (the cluster goes on moving them)"
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn add_node(
    new: &str,
    existing: &str,
    timeout: Duration,
    pass: Option<&str>,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    let map = match map_of(existing, pass).await? {
        Some(map) => map,
        None => {
            println!("{existing} is in no cluster: it founds one first");
            create(
                &[existing.to_owned()],
                None,
                None,
                deadline.saturating_duration_since(Instant::now()),
                pass,
            )
            .await?;
            fetch_map(existing, pass).await?
        }
    };
    let (node, databases, keys) = describe(new, pass).await?;
    if keys > 0 {
        bail!("{new} holds {keys} keys: a node joins a cluster empty");
    }
    if databases != map.databases {
        bail!(
            "{new} has {databases} databases, the cluster {}: every node needs the same",
            map.databases
        );
    }
    if map_of(new, pass).await?.is_some() && map.node(node.id).is_none() {
        bail!("{new} is in another cluster");
    }
    let epoch = control_call(
        existing,
        args![
            "CLUSTER",
            "OKAPI-ADDNODE",
            format!("{:016x}", node.id).as_str(),
            node.host.as_str(),
            node.port,
            node.cluster_port
        ],
        pass,
        deadline,
    )
    .await?;
    match epoch {
        0 => println!("node {:016x} ({new}) is in the cluster already", node.id),
        e => println!("node {:016x} ({new}) added: map epoch {e}", node.id),
    }
    wait_settled(existing, epoch as u64, pass, deadline).await?;
    // The new node serves once it has the map and sees every slot led.
    while !cluster_ok(new, pass).await {
        if Instant::now() > deadline {
            bail!("{new} does not see the cluster as ok yet");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("node {new} is serving; `okapi cluster rebalance {existing}` gives it an even share");
    print_status(existing, pass).await
}

/// A node of `map` named by `name`: its client address or its id (16 or 40 hex).
fn find_node(map: &ClusterMap, name: &str) -> anyhow::Result<u64> {
    if let Some(node) = map.nodes.iter().find(|n| n.client_addr() == name) {
        return Ok(node.id);
    }
    let head = name.get(..16).unwrap_or(name);
    match u64::from_str_radix(head, 16) {
        Ok(id) if map.node(id).is_some() => Ok(id),
        _ => bail!("no node {name} in the cluster"),
    }
}

async fn remove_node(
    existing: &str,
    name: &str,
    timeout: Duration,
    pass: Option<&str>,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    let map = fetch_map(existing, pass).await?;
    let id = find_node(&map, name)?;
    let via = map
        .nodes
        .iter()
        .find(|n| n.id != id && n.state == okapi_cluster::NodeState::Active)
        .map(|n| n.client_addr())
        .unwrap_or_else(|| existing.to_owned());
    let epoch = control_call(
        &via,
        args!["CLUSTER", "OKAPI-REMOVENODE", format!("{id:016x}").as_str()],
        pass,
        deadline,
    )
    .await?;
    println!("node {id:016x}: moving its replicas to other nodes");
    wait_settled(&via, epoch as u64, pass, deadline).await?;
    let epoch = control_call(
        &via,
        args!["CLUSTER", "OKAPI-FORGETNODE", format!("{id:016x}").as_str()],
        pass,
        deadline,
    )
    .await?;
    println!("node {id:016x} removed from the cluster (map epoch {epoch}); it can be stopped");
    print_status(&via, pass).await
}

async fn rebalance(existing: &str, timeout: Duration, pass: Option<&str>) -> anyhow::Result<()> {
    let mut steps = 0;
    let mut epoch = 0;
    loop {
        let deadline = Instant::now() + timeout;
        let map = wait_settled(existing, epoch, pass, deadline).await?;
        let step = control_call(
            existing,
            args!["CLUSTER", "OKAPI-REBALANCE"],
            pass,
            deadline,
        )
        .await?;
        if step == 0 {
            let per_node = |counts: Vec<(u64, usize)>| {
                counts
                    .iter()
                    .map(|(id, n)| format!("{id:016x}={n}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            println!(
                "balanced after {steps} step(s): replicas per node {}; preferred leaders per node {}",
                per_node(okapi_cluster::change::replica_counts(&map)),
                per_node(okapi_cluster::change::leader_counts(&map)),
            );
            return print_status(existing, pass).await;
        }
        steps += 1;
        epoch = step as u64;
        println!("step {steps}: map epoch {epoch}");
    }
}

async fn status(addr: &str, pass: Option<&str>) -> anyhow::Result<()> {
    print_status(addr, pass).await
}

/// A map-like reply (RESP2 sends maps as flat arrays) as pairs.
fn pairs(frame: &Frame) -> Vec<(String, &Frame)> {
    match frame {
        Frame::Map(kv) => kv.iter().map(|(k, v)| (text(k), v)).collect(),
        Frame::Array(items) => items
            .chunks_exact(2)
            .map(|kv| (text(&kv[0]), &kv[1]))
            .collect(),
        _ => Vec::new(),
    }
}

fn field<'a>(map: &'a [(String, &'a Frame)], name: &str) -> Option<&'a Frame> {
    map.iter().find(|(k, _)| k == name).map(|(_, v)| *v)
}

fn int(frame: Option<&Frame>) -> i64 {
    match frame {
        Some(Frame::Integer(n)) => *n,
        Some(other) => text(other).parse().unwrap_or(0),
        None => 0,
    }
}

/// One group as its leader reports it: slots, leader, and each follower's lag.
struct GroupRow {
    slots: String,
    leader: String,
    followers: Vec<(String, i64)>,
}

/// The groups a node leads, from its CLUSTER SHARDS (offsets are known only there).
async fn led_groups(addr: &str, pass: Option<&str>) -> anyhow::Result<Vec<GroupRow>> {
    let mut client = connect(addr, pass).await?;
    let Frame::Array(shards) = client.call(args!["CLUSTER", "SHARDS"]).await? else {
        bail!("{addr}: unexpected reply to CLUSTER SHARDS");
    };
    let mut rows = Vec::new();
    for shard in &shards {
        let shard = pairs(shard);
        let slots: Vec<i64> = match field(&shard, "slots") {
            Some(Frame::Array(s)) => s.iter().map(|f| int(Some(f))).collect(),
            _ => Vec::new(),
        };
        let Some(Frame::Array(nodes)) = field(&shard, "nodes") else {
            continue;
        };
        let nodes: Vec<Vec<(String, &Frame)>> = nodes.iter().map(pairs).collect();
        let endpoint = |n: &[(String, &Frame)]| {
            format!(
                "{}:{}",
                field(n, "ip").map(text).unwrap_or_default(),
                int(field(n, "port"))
            )
        };
        let Some(master) = nodes
            .iter()
            .find(|n| field(n, "role").map(text).as_deref() == Some("master"))
        else {
            continue;
        };
        if endpoint(master) != addr {
            continue;
        }
        let last = int(field(master, "replication-offset"));
        rows.push(GroupRow {
            slots: slots
                .chunks(2)
                .map(|r| format!("{}-{}", r[0], r.get(1).copied().unwrap_or(r[0])))
                .collect::<Vec<_>>()
                .join(" "),
            leader: endpoint(master),
            followers: nodes
                .iter()
                .filter(|n| field(n, "role").map(text).as_deref() != Some("master"))
                .map(|n| (endpoint(n), last - int(field(n, "replication-offset"))))
                .collect(),
        });
    }
    Ok(rows)
}

/// Every group (as its leader reports it) and every node (reachable or not).
async fn print_status(addr: &str, pass: Option<&str>) -> anyhow::Result<()> {
    let mut client = connect(addr, pass).await?;
    let nodes = text(
        &client
            .call(args!["CLUSTER", "NODES"])
            .await
            .with_context(|| format!("{addr}: CLUSTER NODES"))?,
    );
    let map = fetch_map(addr, pass).await.ok();
    let state_of = |name: &str| {
        let id = u64::from_str_radix(name.get(..16).unwrap_or(name), 16).ok();
        map.as_ref()
            .and_then(|m| m.node(id?))
            .map_or("?", |n| n.state.as_str())
    };
    let replicas_of = |name: &str| {
        let id = u64::from_str_radix(name.get(..16).unwrap_or(name), 16).ok();
        map.as_ref()
            .zip(id)
            .map_or(0, |(m, id)| m.groups_on(id).count())
    };
    if let Some(map) = &map {
        println!(
            "cluster {:016x}  epoch {}  {} nodes  {} groups x {} replicas",
            map.cluster_id,
            map.epoch,
            map.nodes.len(),
            map.groups.len(),
            map.replicas
        );
    }
    let mut rows: Vec<[String; 3]> = Vec::new();
    let mut health = Vec::new();
    for line in nodes.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        if fields.len() < 8 {
            continue;
        }
        let node_addr = fields[1].split('@').next().unwrap_or("").to_owned();
        match led_groups(&node_addr, pass).await {
            Ok(groups) => {
                health.push((
                    fields[0][..16.min(fields[0].len())].to_owned(),
                    node_addr,
                    "up",
                    groups.len(),
                ));
                for g in groups {
                    let followers = g
                        .followers
                        .iter()
                        .map(|(a, lag)| format!("{a} (lag {lag})"))
                        .collect::<Vec<_>>()
                        .join(", ");
                    rows.push([g.slots, g.leader, followers]);
                }
            }
            Err(_) => health.push((
                fields[0][..16.min(fields[0].len())].to_owned(),
                node_addr,
                "down",
                0,
            )),
        }
    }
    rows.sort_by_key(|r| {
        r[0].split('-')
            .next()
            .and_then(|s| s.parse::<u32>().ok())
            .unwrap_or(0)
    });
    let headers = ["slots", "leader", "followers (entries behind)"];
    let widths: Vec<usize> = (0..3)
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([headers[i].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |l: &str, m: &str, r: &str| {
        let bars: Vec<String> = widths.iter().map(|w| "─".repeat(w + 2)).collect();
        format!("{l}{}{r}", bars.join(m))
    };
    let row = |cells: [&str; 3]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!(" {c:<w$} "))
            .collect();
        format!("│{}│", padded.join("│"))
    };
    println!("{}", line("┌", "┬", "┐"));
    println!("{}", row(headers));
    println!("{}", line("├", "┼", "┤"));
    for r in &rows {
        println!("{}", row([&r[0], &r[1], &r[2]]));
    }
    println!("{}", line("└", "┴", "┘"));
    println!("nodes:");
    for (id, node_addr, reach, led) in health {
        println!(
            "  {id}  {node_addr:<22} {:<8} {reach:<5} {} replica(s), leads {led} group(s)",
            state_of(&id),
            replicas_of(&id)
        );
    }
    Ok(())
}
