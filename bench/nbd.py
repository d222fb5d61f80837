#!/usr/bin/env python3
"""NBD sequential throughput with the real qemu-img, side by side in one run:

- write: `qemu-img convert -n -f raw -O raw SRC nbd://127.0.0.1:PORT/disk` into a
  block created with BLOCK.CREATE,
- read: `qemu-img convert -f raw -O raw nbd://127.0.0.1:PORT/disk DST`,
- local: `qemu-img convert -f raw -O raw SRC DST` between two files on the same disk
  (the source is in the page cache, as it is for the NBD write).

Every NBD write is a durable write: it goes through okapi's WAL (and the log's
snapshots), so the write figure includes writing the data to disk at least twice. A
snapshot the writes triggered is waited for before the next step.

and `qemu-img bench` of 1 MiB reads and writes, 8 in flight, over NBD alone (no local
file on the other end, so the local disk's writeback does not enter the figure).

SRC is `--size` MiB of random bytes (no zero runs for qemu to skip). Alternates the
three, takes the median of `--repeat` runs and prints MB/s (1 MB = 1e6 bytes).

Usage: bench/nbd.py [--size MIB] [--repeat N] [--appendfsync POLICY] [--json FILE]
Needs: qemu-utils, a release build of okapi.
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import OKAPI  # noqa: E402

MIB = 1 << 20


def wait_ready(path, proc):
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"okapi exited early with {proc.returncode}")
        if os.path.exists(path):
            with open(path) as f:
                return json.load(f)
        time.sleep(0.05)
    sys.exit("okapi did not become ready")


def command(port, *args):
    with socket.create_connection(("127.0.0.1", port)) as s:
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        s.sendall(b"".join(out))
        reply = s.makefile("rb").readline()
        if reply.startswith(b"-"):
            sys.exit(f"okapi: {reply!r}")


def snapshot_running(port):
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"*2\r\n$4\r\nINFO\r\n$11\r\npersistence\r\n")
        data = b""
        while b"rdb_bgsave_in_progress:" not in data or not data.endswith(b"\r\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        return b"rdb_bgsave_in_progress:1" in data


def wait_snapshot(port):
    """Waits for a snapshot the writes triggered, so it does not slow the next step."""
    while snapshot_running(port):
        time.sleep(0.1)


def timed(args):
    start = time.perf_counter()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=1024, help="MiB")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--appendfsync", default="everysec")
    ap.add_argument("--json")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="okapi-nbd-", dir=os.environ.get("BENCH_DIR", "/work"))
    src, dst = os.path.join(tmp, "src.raw"), os.path.join(tmp, "dst.raw")
    with open(src, "wb") as f:
        for _ in range(args.size):
            f.write(os.urandom(MIB))
    ready = os.path.join(tmp, "ready.json")
    okapi = subprocess.Popen(
        [OKAPI, "server", "--port", "0", "--nbd-port", "0", "--http-port", "0", "--ready-file", ready,
         "--data-dir", os.path.join(tmp, "data"), "--appendfsync", args.appendfsync,
         "--loglevel", "warning"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        info = wait_ready(ready, okapi)
        port, nbd = info["port"], info["nbd_port"]
        url = f"nbd://127.0.0.1:{nbd}/disk"
        command(port, "BLOCK.CREATE", "disk", args.size * MIB)
        runs = {"nbd_write": [], "nbd_read": [], "local_copy": [],
                "bench_read": [], "bench_write": []}
        count = args.size  # 1 MiB requests
        bench = ["qemu-img", "bench", "-f", "raw", "-s", "1M", "-d", "8", "-c", str(count)]
        for i in range(args.repeat):
            steps = [
                ("nbd_write", ["qemu-img", "convert", "-n", "-f", "raw", "-O", "raw", src, url]),
                ("nbd_read", ["qemu-img", "convert", "-f", "raw", "-O", "raw", url, dst]),
                ("local_copy", ["qemu-img", "convert", "-f", "raw", "-O", "raw", src, dst]),
            ]
            if i % 2:
                steps = [steps[0], steps[2], steps[1]]
            # Without a local file on the other end: NBD alone, 8 requests in flight.
            steps += [("bench_read", bench + [url]), ("bench_write", bench + ["-w", url])]
            for name, cmd in steps:
                if os.path.exists(dst):
                    os.remove(dst)
                runs[name].append(args.size * MIB / timed(cmd) / 1e6)
                wait_snapshot(port)
        med = {k: statistics.median(v) for k, v in runs.items()}
        print(f"qemu-img convert of {args.size} MiB, appendfsync {args.appendfsync}, "
              f"median of {args.repeat} (MB/s):")
        for k, v in med.items():
            print(f"  {k:12} {v:8.0f}   samples {', '.join(f'{x:.0f}' for x in runs[k])}")
        print(f"  NBD write / local copy {med['nbd_write'] / med['local_copy']:.2f}x, "
              f"NBD read / local copy {med['nbd_read'] / med['local_copy']:.2f}x")
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"samples": runs, "median": med}, f, indent=1)
    finally:
        okapi.terminate()
        try:
            okapi.wait(timeout=60)
        except subprocess.TimeoutExpired:
            okapi.kill()
        subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
