#!/usr/bin/env python3
"""Block read throughput over loopback, side by side in one run:

- okapi `BLOCK.READ blk 0 1048576` and `BLOCK.GATHER` (4 pieces of 256 KiB) from a
  1 GiB block filled with random bytes,
- Redis `GETRANGE str 0 1048575` from a 512 MB string,
- a plain TCP stream of the same bytes (the loopback limit): `--clients` connections
  each receiving 1 MiB messages as fast as the sender writes them.

All three go through redis-benchmark-style clients (`-c 4` by default) on the same
two cores, alternating okapi and Redis and taking the median of `--repeat` runs.
Reports GB/s (1 GB = 1e9 bytes) and the ratios the issue asks for.

Usage: bench/blocks.py [--repeat N] [--requests N] [--clients N] [--json FILE]
Needs: redis-server and redis-benchmark, a release build of okapi.
"""

import argparse
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import OKAPI, free_port, stop, wait_port  # noqa: E402

MIB = 1 << 20


def resp(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def call_many(port, commands):
    """Sends commands pipelined and reads one line-level reply each (no bulk replies)."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"".join(commands))
        f = s.makefile("rb")
        for _ in commands:
            line = f.readline()
            if line.startswith(b"-"):
                sys.exit(f"server error: {line!r}")


def fill(port, make_cmd, total, chunk=4 * MIB):
    data = os.urandom(chunk)
    for start in range(0, total, 64 * chunk):
        cmds = [make_cmd(off, data) for off in range(start, min(total, start + 64 * chunk), chunk)]
        call_many(port, cmds)


def redis_benchmark(port, requests, clients, *command):
    out = subprocess.run(
        ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-n", str(requests),
         "-c", str(clients), "--csv", *map(str, command)],
        capture_output=True, text=True, check=True).stdout
    rps = float(out.strip().splitlines()[-1].split(",")[1].strip('"'))
    return rps


def tcp_sender(port, total):
    with socket.create_connection(("127.0.0.1", port)) as s:
        buf = memoryview(os.urandom(MIB))
        for _ in range(total // MIB):
            s.sendall(buf)


def tcp_stream(messages, clients):
    """GB/s of `clients` loopback streams carrying `messages` MiB in all."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(clients)
    port = listener.getsockname()[1]
    per = messages // clients * MIB
    senders = [multiprocessing.Process(target=tcp_sender, args=(port, per)) for _ in range(clients)]
    start = time.perf_counter()
    for p in senders:
        p.start()
    conns = [listener.accept()[0] for _ in range(clients)]

    def drain(conn):
        buf = bytearray(MIB)
        got = 0
        while got < per:
            n = conn.recv_into(buf)
            if n == 0:
                break
            got += n
        return got

    import threading
    totals = [0] * clients
    threads = [threading.Thread(target=lambda i=i: totals.__setitem__(i, drain(conns[i])))
               for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    for p in senders:
        p.join()
    for c in conns:
        c.close()
    listener.close()
    return sum(totals) / elapsed / 1e9


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--json")
    args = ap.parse_args()
    if not os.path.exists(OKAPI):
        subprocess.run(["cargo", "build", "--release", "-p", "okapi"], check=True)
    tmp = tempfile.mkdtemp(prefix="okapi-blocks-")
    redis_port, okapi_port = free_port(), free_port()
    redis = subprocess.Popen(
        ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", tmp, "--loglevel", "warning"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    okapi = subprocess.Popen(
        [OKAPI, "server", "--port", str(okapi_port), "--http-port", "0", "--data-dir", os.path.join(tmp, "okapi"),
         "--loglevel", "warning"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    servers = {"redis": (redis, redis_port), "okapi": (okapi, okapi_port)}
    try:
        wait_port(redis_port, redis, "redis-server")
        wait_port(okapi_port, okapi, "okapi")
        call_many(okapi_port, [resp("BLOCK.CREATE", "blk", 1 << 30)])
        fill(okapi_port, lambda off, d: resp("BLOCK.WRITE", "blk", off, d), 1 << 30)
        fill(redis_port, lambda off, d: resp("SETRANGE", "str", off, d), 512 * MIB)
        gather = ["BLOCK.GATHER"]
        for i in range(4):
            gather += ["blk", i * 64 * MIB, 256 * 1024]
        samples = {"okapi_read": [], "okapi_gather": [], "redis_getrange": [], "tcp": []}
        n, c = args.requests, args.clients
        for i in range(args.repeat):
            runs = [
                ("redis_getrange", lambda: redis_benchmark(redis_port, n, c, "GETRANGE", "str", 0, MIB - 1)),
                ("okapi_read", lambda: redis_benchmark(okapi_port, n, c, "BLOCK.READ", "blk", 0, MIB)),
                ("okapi_gather", lambda: redis_benchmark(okapi_port, n, c, *gather)),
                ("tcp", lambda: tcp_stream(n, c)),
            ]
            if i % 2:
                runs.reverse()
            for name, run in runs:
                value = run()
                # redis-benchmark gives requests/s of 1 MiB each.
                samples[name].append(value if name == "tcp" else value * MIB / 1e9)
        med = {k: statistics.median(v) for k, v in samples.items()}
        print(f"1 MiB reads over loopback, -c {c}, -n {n}, median of {args.repeat} (GB/s):")
        for k in ["okapi_read", "okapi_gather", "redis_getrange", "tcp"]:
            print(f"  {k:16} {med[k]:6.2f}   samples {', '.join(f'{v:.2f}' for v in samples[k])}")
        print(f"  BLOCK.READ / Redis GETRANGE   {med['okapi_read'] / med['redis_getrange']:.2f}x")
        print(f"  BLOCK.GATHER / Redis GETRANGE {med['okapi_gather'] / med['redis_getrange']:.2f}x")
        print(f"  loopback limit / BLOCK.READ   {med['tcp'] / med['okapi_read']:.2f}x")
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"samples": samples, "median": med}, f, indent=1)
    finally:
        stop(servers)
        subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
