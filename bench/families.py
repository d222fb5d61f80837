#!/usr/bin/env python3
"""The new families' hot paths, okapi against redis-server in one run: redis-benchmark
sends `SETBIT bm:<rand> <offset> 1` (1,000 keys of 2 KB), `BITCOUNT bm:<rand>`,
`PFADD hll:<rand%100> <rand>` (dense HLLs), `PFCOUNT hll:<rand%100>`,
`XADD xs:<rand> MAXLEN ~ 1000 * f v`, `XREAD COUNT 10 STREAMS xs:<rand> 0` (streams
of 100 entries), and EVALSHA of two small scripts loaded with SCRIPT LOAD: one reading
(`return redis.call('GET', KEYS[1])` on 1,000 strings) and one writing
(`return redis.call('INCR', KEYS[1])`) to each server, 50 clients, P1 and P16, alternating servers and taking
the median of --repeat runs.

Two pairings, as a user would meet them:
- durable: okapi's WAL with appendfsync everysec against Redis with appendonly yes and
  appendfsync everysec;
- defaults: okapi as it starts (WAL, everysec) against Redis's defaults (no AOF).

Usage: bench/families.py [--repeat N] [--requests N] [--okapi BIN] [--only NAME,...]
Needs: redis-server and redis-benchmark, a release build of okapi.
"""

import argparse
import csv
import hashlib
import io
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402

KEYS = 1000
# redis-benchmark pads __rand_int__ with zeros, which SETBIT refuses as an offset, so
# the offsets are fixed and spread over a 2 KB string; the keys are random.
SETBIT = ["SETBIT", "bm:__rand_int__", "16000", "1"]
BITCOUNT = ["BITCOUNT", "bm:__rand_int__"]
PFADD = ["PFADD", "hll:__rand_int__", "__rand_int__"]
PFCOUNT = ["PFCOUNT", "hll:__rand_int__"]
XADD = ["XADD", "xs:__rand_int__", "MAXLEN", "~", "1000", "*", "f", "v"]
XREAD = ["XREAD", "COUNT", "10", "STREAMS", "xs:__rand_int__", "0"]
READ_SCRIPT = "return redis.call('GET', KEYS[1])"
WRITE_SCRIPT = "return redis.call('INCR', KEYS[1])"
EVALSHA_GET = ["EVALSHA", hashlib.sha1(READ_SCRIPT.encode()).hexdigest(), "1", "str:__rand_int__"]
EVALSHA_INCR = ["EVALSHA", hashlib.sha1(WRITE_SCRIPT.encode()).hexdigest(), "1",
                "cnt:__rand_int__"]
TESTS = [("SETBIT", SETBIT), ("BITCOUNT", BITCOUNT), ("PFADD", PFADD), ("PFCOUNT", PFCOUNT),
         ("XADD", XADD), ("XREAD", XREAD), ("EVALSHA_GET", EVALSHA_GET),
         ("EVALSHA_INCR", EVALSHA_INCR)]


def bench(port, command, requests, pipeline):
    out = subprocess.run(
        ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-n", str(requests), "-c", "50",
         "-P", str(pipeline), "-r", str(KEYS), "--csv", *command],
        capture_output=True, text=True, check=True).stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    return float(rows[0]["rps"]), float(rows[0]["p99_latency_ms"])


def fill(port):
    """Gives every bitmap its full length, so BITCOUNT counts 2 KB strings, and makes
    every HLL dense (2,000 elements each) so PFADD and PFCOUNT work on 12 KB values."""
    commands = "".join(f"SETBIT bm:{i:012d} 16383 1\n" for i in range(KEYS))
    for i in range(KEYS):
        elements = " ".join(f"e{j}" for j in range(i * 2000, i * 2000 + 2000))
        commands += f"PFADD hll:{i:012d} {elements}\n"
    for i in range(KEYS):
        commands += "".join(f"XADD xs:{i:012d} * f value{j}\n" for j in range(100))
    commands += "".join(f"SET str:{i:012d} value-{i}\n" for i in range(KEYS))
    commands += f'SCRIPT LOAD "{READ_SCRIPT}"\nSCRIPT LOAD "{WRITE_SCRIPT}"\n'
    subprocess.run(["redis-cli", "-p", str(port)], input=commands, capture_output=True,
                   text=True, check=True)


def run(servers, requests, repeat, only):
    rows = []
    for name, command in TESTS:
        if only and name not in only:
            continue
        for pipeline in (1, 16):
            samples = {"redis": [], "okapi": []}
            for i in range(repeat):
                order = ["redis", "okapi"] if i % 2 == 0 else ["okapi", "redis"]
                for server in order:
                    port = servers[server][1]
                    samples[server].append(bench(port, command, requests if pipeline == 1 else requests * 4,
                                                 pipeline))
            r = statistics.median(s[0] for s in samples["redis"])
            o = statistics.median(s[0] for s in samples["okapi"])
            r99 = statistics.median(s[1] for s in samples["redis"])
            o99 = statistics.median(s[1] for s in samples["okapi"])
            rows.append((f"{name} P{pipeline}", r, o, o / r, r99, o99))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--okapi", help="the okapi binary (default: target/release/okapi)")
    parser.add_argument("--only", help="comma-separated tests to run (default: all), e.g. XADD,XREAD")
    args = parser.parse_args()
    if args.okapi:
        compare.OKAPI = args.okapi
    if not os.path.exists(compare.OKAPI):
        sys.exit(f"{compare.OKAPI} is missing: cargo build --release -p okapi")
    for pairing, fsync in [("durable (AOF everysec)", "everysec"), ("Redis defaults", None)]:
        with tempfile.TemporaryDirectory() as tmp:
            servers = compare.start_servers(tmp, 0, fsync)
            try:
                for server in servers.values():
                    fill(server[1])
                rows = run(servers, args.requests, args.repeat,
                           set(args.only.split(",")) if args.only else None)
            finally:
                compare.stop(servers)
        print(f"\n{pairing}")
        print(f"{'test':<17} {'redis/s':>11} {'okapi/s':>11} {'okapi/redis':>12} "
              f"{'redis p99':>10} {'okapi p99':>10}")
        for test, r, o, ratio, r99, o99 in rows:
            print(f"{test:<17} {r:>11,.0f} {o:>11,.0f} {ratio:>11.2f}x {r99:>9.2f}ms {o99:>9.2f}ms")


if __name__ == "__main__":
    main()
