#!/usr/bin/env python3
"""A 3-node okapi cluster on this machine against one redis-server, in one run.

Throughput: redis-benchmark --cluster SET and GET against the okapi cluster (nodes on
127.0.0.2-4, every write replicated to 3 nodes through Raft, WAL appendfsync everysec)
and plain redis-benchmark against one redis-server, twice: with appendonly yes /
appendfsync everysec (the comparable durability) and with Redis's defaults (what a
user gets). 50 clients, P1 and P16 (P16 runs send 10x --requests, so that they last
seconds too); medians of --repeat runs; ratios and p50/p99.

Failover: --kills times, a writer keeps writing to one group while its leader is
killed with SIGKILL; the time from the kill to the first acknowledged write after it
is the failover time (then the node is restarted and the cluster waits to be whole).

Usage: bench/cluster.py [--repeat N] [--requests N] [--kills N] [--okapi BIN]
Needs: redis-server, redis-benchmark, redis-cli, a release build of okapi.
"""

import argparse
import csv
import io
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OKAPI = os.path.join(ROOT, "target", "release", "okapi")
HOSTS = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
# Requests of a pipelined run, in multiples of --requests.
PIPELINED_SCALE = 10


def free_port(host):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_port(host, port, proc, what):
    deadline = time.time() + 30
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"{what} exited early with {proc.returncode}")
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"{what} did not start listening on {host}:{port}")


class Node:
    def __init__(self, tmp, host):
        self.host, self.port, self.cport = host, free_port(host), free_port(host)
        self.dir = os.path.join(tmp, host)
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            [OKAPI, "server", "--bind", self.host, "--port", str(self.port), "--cluster-port",
             str(self.cport), "--cluster-enabled", "--no-http", "--data-dir", self.dir,
             "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.host, self.port, self.proc, f"okapi on {self.host}")

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    @property
    def addr(self):
        return f"{self.host}:{self.port}"


def cli(host, port, *args):
    return subprocess.run(["redis-cli", "-h", host, "-p", str(port), *args],
                          capture_output=True, text=True).stdout


def wait_ok(nodes, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if all("cluster_state:ok" in cli(n.host, n.port, "cluster", "info") for n in nodes):
            return
        time.sleep(0.05)
    sys.exit("the cluster did not become ok")


def bench(host, port, tests, requests, pipeline, cluster):
    # Pipelined runs get more requests: at P16 a few hundred thousand take a fraction of
    # a second, and the figure would measure connecting 50 clients, not serving them.
    requests *= 1 if pipeline == 1 else PIPELINED_SCALE
    cmd = ["redis-benchmark", "-h", host, "-p", str(port), "-t", tests, "-n", str(requests),
           "-c", "50", "-P", str(pipeline), "-r", "100000", "--csv"]
    if cluster:
        cmd.insert(1, "--cluster")
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rows = {}
    for row in csv.DictReader(io.StringIO(out[out.find('"test"'):])):
        rows[row["test"]] = (float(row["rps"]), float(row["p50_latency_ms"]), float(row["p99_latency_ms"]))
    return rows


def resp(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def send(addr, *args, timeout=2.0):
    """One command on a fresh connection; the first reply line, or None on I/O error."""
    host, port = addr.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as s:
            s.sendall(resp(*args))
            data = b""
            while b"\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    return None
                data += chunk
            return data.split(b"\r\n")[0].decode()
    except OSError:
        return None


def leader_of(nodes, key):
    """The node leading `key`'s group, per CLUSTER SLOTS of a live node."""
    for n in nodes:
        if n.proc.poll() is not None:
            continue
        slot = int(cli(n.host, n.port, "cluster", "keyslot", key).strip())
        lines = cli(n.host, n.port, "cluster", "slots").split("\n")
        i = 0
        while i + 3 < len(lines):
            a, b, host, port = lines[i:i + 4]
            if a.strip().isdigit() and b.strip().isdigit() and int(a) <= slot <= int(b):
                for node in nodes:
                    if node.host == host.strip() and node.port == int(port):
                        return node
            i += 1
    return None


def failover_once(nodes, key):
    victim = leader_of(nodes, key)
    others = [n for n in nodes if n is not victim]
    target = victim.addr
    killed = time.monotonic()
    victim.kill()
    n = 0
    while True:
        n += 1
        reply = send(target, "SET", key, n)
        if reply == "+OK":
            took = time.monotonic() - killed
            break
        if reply and reply.startswith("-MOVED"):
            target = reply.split()[2]
        else:
            target = others[n % len(others)].addr
            time.sleep(0.002)
        if time.monotonic() - killed > 30:
            sys.exit("no write succeeded within 30 s of a kill")
    victim.start()
    wait_ok(nodes)
    return took


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--groups", type=int, default=6)
    parser.add_argument("--okapi", help="the okapi binary (default: target/release/okapi)")
    args = parser.parse_args()
    global OKAPI
    if args.okapi:
        OKAPI = os.path.abspath(args.okapi)
    for tool in ("redis-server", "redis-benchmark", "redis-cli"):
        if not shutil.which(tool):
            sys.exit(f"{tool} not found: apt-get install redis-server redis-tools")
    if not os.path.exists(OKAPI):
        subprocess.run(["cargo", "build", "--release", "-p", "okapi"], cwd=ROOT, check=True)
    with tempfile.TemporaryDirectory() as tmp:
        nodes = [Node(tmp, h) for h in HOSTS]
        redis = {}
        try:
            for n in nodes:
                n.start()
            subprocess.run([OKAPI, "cluster", "create", *[n.addr for n in nodes], "--groups", str(args.groups)],
                           check=True, stdout=subprocess.DEVNULL)
            wait_ok(nodes)
            for name, extra in (("aof everysec", ["--appendonly", "yes", "--appendfsync", "everysec"]),
                                ("defaults", [])):
                port = free_port("127.0.0.1")
                d = os.path.join(tmp, "redis-" + name.replace(" ", "-"))
                os.makedirs(d)
                proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", d,
                                         "--daemonize", "no", "--loglevel", "warning", *extra],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                wait_port("127.0.0.1", port, proc, "redis-server")
                redis[name] = (proc, port)
            version = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.strip()
            print(f"# okapi 3-node cluster ({args.groups} groups x 3 replicas, WAL everysec) vs one {version}")
            print(f"# {os.cpu_count()} cores shared by everything, {args.requests} requests at P1 and "
                  f"{args.requests * PIPELINED_SCALE} at P16, 50 clients, median of {args.repeat}\n")
            print(f"{'test':<8} {'P':>3} {'redis':<13} {'redis rps':>10} {'okapi rps':>10} {'ratio':>6} "
                  f"{'redis p50/p99 ms':>17} {'okapi p50/p99 ms':>17}")
            for pipeline in (1, 16):
                samples = {"okapi": {}, **{k: {} for k in redis}}
                for i in range(args.repeat):
                    runs = [("okapi", nodes[0].host, nodes[0].port, True)] + \
                           [(k, "127.0.0.1", p, False) for k, (_, p) in redis.items()]
                    if i % 2:
                        runs.reverse()
                    for name, host, port, cluster in runs:
                        for test, v in bench(host, port, "set,get", args.requests, pipeline, cluster).items():
                            samples[name].setdefault(test, []).append(v)
                for test in ("SET", "GET"):
                    o = samples["okapi"][test]
                    o_rps = statistics.median(v[0] for v in o)
                    o50 = statistics.median(v[1] for v in o)
                    o99 = statistics.median(v[2] for v in o)
                    for name in redis:
                        r = samples[name][test]
                        r_rps = statistics.median(v[0] for v in r)
                        r50 = statistics.median(v[1] for v in r)
                        r99 = statistics.median(v[2] for v in r)
                        print(f"{test:<8} {pipeline:>3} {name:<13} {r_rps:>10.0f} {o_rps:>10.0f} {o_rps / r_rps:>5.2f}x "
                              f"{r50:>8.3f}/{r99:<8.3f} {o50:>8.3f}/{o99:<8.3f}")
            if args.kills:
                times = [failover_once(nodes, "{failover}") for _ in range(args.kills)]
                times_ms = sorted(t * 1000 for t in times)
                print(f"\n# failover over {args.kills} SIGKILLs of a group leader (kill -> first acknowledged write)")
                print(f"median {statistics.median(times_ms):.0f} ms, max {times_ms[-1]:.0f} ms, "
                      f"min {times_ms[0]:.0f} ms")
        finally:
            for n in nodes:
                n.stop()
            for proc, _ in redis.values():
                proc.terminate()
                proc.wait()


if __name__ == "__main__":
    main()
