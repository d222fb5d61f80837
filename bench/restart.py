#!/usr/bin/env python3
"""Restart time with N keys (16-byte keys, 32-byte values), okapi next to Redis in
the same run:

- okapi after a clean stop (SHUTDOWN writes a snapshot; restart loads it),
- okapi after SIGKILL (restart loads the newest snapshot and replays the log tail),
- Redis after `SHUTDOWN SAVE` (restart loads its RDB).

Each time runs from starting the process until DBSIZE answers N.

Usage: bench/restart.py [--keys 1000000]
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import OKAPI, free_port, load_keys  # noqa: E402


def wait_loaded(port, keys, proc, deadline=120):
    end = time.time() + deadline
    while time.time() < end:
        if proc.poll() is not None:
            sys.exit(f"server exited with {proc.returncode}")
        try:
            out = subprocess.run(["redis-cli", "-p", str(port), "dbsize"], capture_output=True,
                                 text=True, timeout=5)
            if out.returncode == 0 and out.stdout.strip() == str(keys):
                return
        except subprocess.TimeoutExpired:
            pass
        time.sleep(0.005)
    sys.exit("server did not load in time")


def okapi_restart(cmd, port, keys, ready):
    """Starts okapi on an existing data dir; returns (ready-file s, loaded s, INFO)."""
    if os.path.exists(ready):
        os.remove(ready)
    started = time.time()
    proc = subprocess.Popen(cmd + ["--ready-file", ready], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    while not os.path.exists(ready):
        if proc.poll() is not None:
            sys.exit("okapi exited during restart")
        time.sleep(0.002)
    ready_at = time.time() - started
    wait_loaded(port, keys, proc)
    total = time.time() - started
    info = subprocess.run(["redis-cli", "-p", str(port), "info", "persistence"],
                          capture_output=True, text=True).stdout
    loaded = {line.split(":")[0]: line.split(":")[1] for line in info.splitlines()
              if line.startswith("okapi_loaded")}
    return proc, ready_at, total, loaded


def okapi_cycles(tmp, keys):
    port = free_port()
    ready = os.path.join(tmp, "ready.json")
    cmd = [OKAPI, "server", "--port", str(port), "--http-port", "0", "--data-dir", os.path.join(tmp, "data"),
           "--loglevel", "warning"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_loaded(port, 0, proc)
    load_keys(port, keys)
    subprocess.run(["redis-cli", "-p", str(port), "shutdown"], capture_output=True)
    proc.wait(timeout=120)
    proc, clean_ready, clean_total, clean_loaded = okapi_restart(cmd, port, keys, ready)
    # Overwrite a tenth of the keys so the log holds entries the snapshot lacks, then
    # kill without warning.
    load_keys(port, keys // 10)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=120)
    proc, kill_ready, kill_total, kill_loaded = okapi_restart(cmd, port, keys, ready)
    proc.terminate()
    proc.wait(timeout=120)
    return (clean_ready, clean_total, clean_loaded), (kill_ready, kill_total, kill_loaded)


def redis_cycle(tmp, keys):
    port = free_port()
    cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", tmp,
           "--dbfilename", "bench.rdb", "--appendonly", "no", "--save", "", "--daemonize", "no",
           "--loglevel", "warning"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_loaded(port, 0, proc)
    load_keys(port, keys)
    subprocess.run(["redis-cli", "-p", str(port), "shutdown", "save"], capture_output=True)
    proc.wait(timeout=120)
    started = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_loaded(port, keys, proc)
    total = time.time() - started
    proc.terminate()
    proc.wait(timeout=120)
    return total


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", type=int, default=1_000_000)
    args = parser.parse_args()
    if not os.path.exists(OKAPI):
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        subprocess.run(["cargo", "build", "--release", "-p", "okapi"], cwd=root, check=True)
    with tempfile.TemporaryDirectory() as tmp:
        for sub in ("okapi", "redis"):
            os.makedirs(os.path.join(tmp, sub))
        clean, killed = okapi_cycles(os.path.join(tmp, "okapi"), args.keys)
        redis_total = redis_cycle(os.path.join(tmp, "redis"), args.keys)
    print(f"# restart with {args.keys} keys (16-byte keys, 32-byte values)")
    for name, (ready, total, loaded) in (("clean stop", clean), ("SIGKILL", killed)):
        print(f"okapi after {name}: ready file {ready:.3f} s, DBSIZE answered {total:.3f} s "
              f"({json.dumps(loaded)})")
    print(f"redis after SHUTDOWN SAVE: DBSIZE answered {redis_total:.3f} s (RDB load)")
    print(f"okapi clean / redis: {clean[1] / redis_total:.2f}x; "
          f"okapi SIGKILL / redis: {killed[1] / redis_total:.2f}x")


if __name__ == "__main__":
    main()
