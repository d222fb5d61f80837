#!/usr/bin/env python3
"""Side-by-side benchmark: redis-benchmark against okapi and redis-server in one run.

Starts both servers on loopback with equivalent settings (no persistence for this
comparison), runs the same redis-benchmark invocations against each (alternating, and
repeated to take the median), and prints okapi / Redis throughput and p99 latency.
Then loads 1,000,000 keys (16-byte keys, 32-byte values) into each and reports RSS.

Usage: bench/compare.py [--quick] [--repeat N] [--requests N] [--skip-memory] [--okapi BIN]
Needs: redis-server and redis-benchmark (Debian: redis-server redis-tools), a release
build of okapi (built if missing).
"""

import argparse
import csv
import io
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OKAPI = os.path.join(ROOT, "target", "release", "okapi")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, what):
    deadline = time.time() + 30
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"{what} exited early with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"{what} did not start listening on {port}")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def start_servers(tmp, okapi_threads, fsync=None):
    """Both servers; with `fsync` both log every write (Redis AOF, okapi's WAL) with
    that appendfsync policy, otherwise Redis keeps nothing on disk."""
    os.makedirs(tmp, exist_ok=True)
    redis_port, okapi_port = free_port(), free_port()
    aof = ["--appendonly", "yes", "--appendfsync", fsync] if fsync else ["--appendonly", "no"]
    redis = subprocess.Popen(
        ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
         *aof, "--dir", tmp, "--daemonize", "no", "--loglevel", "warning"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cmd = [OKAPI, "server", "--port", str(okapi_port), "--http-port", "0", "--data-dir", os.path.join(tmp, "okapi"),
           "--loglevel", "warning", "--appendfsync", fsync or "everysec"]
    if okapi_threads:
        cmd += ["--threads", str(okapi_threads)]
    okapi = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(redis_port, redis, "redis-server")
    wait_port(okapi_port, okapi, "okapi")
    return {"redis": (redis, redis_port), "okapi": (okapi, okapi_port)}


def stop(servers):
    for proc, _ in servers.values():
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def run_benchmark(port, tests, requests, clients, pipeline, size):
    out = subprocess.run(
        ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-t", tests, "-n", str(requests),
         "-c", str(clients), "-P", str(pipeline), "-d", str(size), "-r", "100000", "--csv"],
        capture_output=True, text=True, check=True).stdout
    rows = {}
    for row in csv.DictReader(io.StringIO(out)):
        rows[row["test"]] = (float(row["rps"]), float(row["p99_latency_ms"]))
    return rows


def flush(port):
    subprocess.run(["redis-cli", "-p", str(port), "flushall"], capture_output=True, check=True)


def throughput(servers, configs, repeat, requests):
    results = []
    for name, tests, clients, pipeline, size in configs:
        samples = {"redis": {}, "okapi": {}}
        for i in range(repeat):
            order = ["redis", "okapi"] if i % 2 == 0 else ["okapi", "redis"]
            for server in order:
                port = servers[server][1]
                flush(port)
                for test, value in run_benchmark(port, tests, requests, clients, pipeline, size).items():
                    samples[server].setdefault(test, []).append(value)
        for test in samples["redis"]:
            r = samples["redis"][test]
            o = samples["okapi"].get(test)
            if not o:
                continue
            r_rps = statistics.median(v[0] for v in r)
            o_rps = statistics.median(v[0] for v in o)
            r_p99 = statistics.median(v[1] for v in r)
            o_p99 = statistics.median(v[1] for v in o)
            results.append((name, test, r_rps, o_rps, o_rps / r_rps, r_p99, o_p99))
    return results


def load_keys(port, count):
    """Loads `count` keys of 16 bytes with 32-byte values through redis-cli --pipe."""
    buf = io.BytesIO()
    for i in range(count):
        key = b"key:%012d" % i
        value = b"v" * 32
        buf.write(b"*3\r\n$3\r\nSET\r\n$16\r\n" + key + b"\r\n$32\r\n" + value + b"\r\n")
    proc = subprocess.run(["redis-cli", "-p", str(port), "--pipe"], input=buf.getvalue(),
                          capture_output=True, check=True)
    return proc.stdout.decode().strip().splitlines()[-1]


def used_memory(port):
    info = subprocess.run(["redis-cli", "-p", str(port), "info", "memory"], capture_output=True,
                          text=True, check=True).stdout
    for line in info.splitlines():
        if line.startswith("used_memory:"):
            return int(line.split(":")[1])
    return 0


def memory(tmp, threads, keys):
    """Fresh servers, so earlier tests' allocator state does not count."""
    servers = start_servers(os.path.join(tmp, "mem"), threads)
    rows = []
    try:
        for server in ("redis", "okapi"):
            proc, port = servers[server]
            before = rss_kib(proc.pid)
            load_keys(port, keys)
            time.sleep(0.5)
            after = rss_kib(proc.pid)
            dbsize = int(subprocess.run(["redis-cli", "-p", str(port), "dbsize"], capture_output=True,
                                        text=True, check=True).stdout.strip())
            rows.append((server, dbsize, before, after, used_memory(port)))
    finally:
        stop(servers)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer requests, one repeat")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--threads", type=int, default=0, help="okapi --threads (0: default)")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--json", help="also write results as JSON to this file")
    parser.add_argument("--okapi", help="the okapi binary to measure (default: target/release/okapi),"
                        " e.g. a build of an earlier commit for a before/after comparison")
    parser.add_argument("--durable", choices=["everysec", "always"],
                        help="SET only, both servers logging every write with this appendfsync")
    args = parser.parse_args()
    global OKAPI
    if args.okapi:
        OKAPI = os.path.abspath(args.okapi)
    if args.quick:
        args.repeat, args.requests, args.keys = 1, 50_000, 200_000
    for tool in ("redis-server", "redis-benchmark", "redis-cli"):
        if not shutil.which(tool):
            sys.exit(f"{tool} not found: apt-get install redis-server redis-tools")
    if not os.path.exists(OKAPI):
        subprocess.run(["cargo", "build", "--release", "-p", "okapi"], cwd=ROOT, check=True)

    configs = [
        ("64B  c50 P1", "set,get", 50, 1, 64),
        ("64B  c50 P16", "set,get", 50, 16, 64),
        ("4KiB c50 P1", "set,get", 50, 1, 4096),
        ("4KiB c50 P16", "set,get", 50, 16, 4096),
        ("c50 P1", "mset,lpush,lpop,zadd,incr", 50, 1, 64),
        ("c50 P16", "mset,lpush,lpop,zadd,incr", 50, 16, 64),
    ]
    if args.durable:
        configs = [("c50 P1", "set", 50, 1, 64), ("c50 P16", "set", 50, 16, 64)]
        args.skip_memory = True
    with tempfile.TemporaryDirectory() as tmp:
        servers = start_servers(tmp, args.threads, args.durable)
        try:
            version = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.strip()
            mode = f"both logging, appendfsync {args.durable}" if args.durable else "Redis without persistence, okapi with its WAL (everysec)"
            print(f"# okapi vs {version} ({mode})")
            print(f"# {os.cpu_count()} cores, {args.requests} requests per test, median of {args.repeat}\n")
            results = throughput(servers, configs, args.repeat, args.requests)
            print(f"{'config':<14} {'test':<16} {'redis rps':>12} {'okapi rps':>12} {'okapi/redis':>11} {'redis p99':>10} {'okapi p99':>10}")
            for name, test, r, o, ratio, rp, op in results:
                print(f"{name:<14} {test:<16} {r:>12.0f} {o:>12.0f} {ratio:>10.2f}x {rp:>8.3f}ms {op:>8.3f}ms")
        finally:
            stop(servers)
        mem = [] if args.skip_memory else memory(tmp, args.threads, args.keys)
        if mem:
            print(f"\n# Fresh servers, after loading {args.keys} keys (16-byte keys, 32-byte values)")
            for server, dbsize, before, after, used in mem:
                print(f"{server:<6} keys={dbsize:<9} rss={after / 1024:8.1f} MiB (empty: {before / 1024:5.1f} MiB, "
                      f"{(after - before) * 1024 / max(dbsize, 1):.0f} B/key)  used_memory={used / 2**20:8.1f} MiB")
            ratio = mem[1][3] / max(mem[0][3], 1)
            print(f"okapi/redis RSS: {ratio:.2f}x")
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"throughput": results, "memory": mem}, f, indent=1)


if __name__ == "__main__":
    main()
