"""redis-py's RedisCluster against an okapi cluster: discovery from one node,
MOVED-routed reads and writes over every group, hash-tagged multi-key commands,
a cluster pipeline, and the errors it must raise. Prints what it checked."""
import sys

from redis.cluster import RedisCluster
from redis.exceptions import ResponseError

host, port = sys.argv[1], int(sys.argv[2])
rc = RedisCluster(host=host, port=port, decode_responses=True)

masters = {(n.host, n.port) for n in rc.get_primaries()}
assert len(masters) >= 2, f"slot-owning masters: {masters}"

n = 300
for i in range(n):
    assert rc.set(f"py:{i}", i) is True
for i in range(n):
    assert rc.get(f"py:{i}") == str(i), i
slots = {rc.keyslot(f"py:{i}") for i in range(n)}

assert rc.mset({"{t}a": "1", "{t}b": "2"}) is True
assert rc.mget("{t}a", "{t}b") == ["1", "2"]
assert rc.incrby("{t}a", 41) == 42
rc.hset("py:h", mapping={"f": "v", "g": "w"})
assert rc.hgetall("py:h") == {"f": "v", "g": "w"}

pipe = rc.pipeline()
for i in range(50):
    pipe.set(f"pp:{i}", i)
assert all(pipe.execute())
pipe = rc.pipeline()
for i in range(50):
    pipe.get(f"pp:{i}")
assert pipe.execute() == [str(i) for i in range(50)]

try:
    # redis-py refuses this itself; sent to a node anyway, the node refuses it.
    rc.execute_command("RENAME", "py:1", "py:2", target_nodes=rc.get_random_node())
    raise AssertionError("RENAME across slots succeeded")
except ResponseError as e:
    assert "hash to the same slot" in str(e), e

try:
    rc.execute_command("INCR", "py:h")
    raise AssertionError("INCR of a hash succeeded")
except ResponseError as e:
    assert str(e).startswith("WRONGTYPE"), e

# Every node is a primary (it leads some groups) and counts the groups it leads:
# the primaries' DBSIZEs add up to every key.
per_primary = [(p.name, p.redis_connection.dbsize()) for p in rc.get_primaries()]
assert sum(k for _, k in per_primary) == n + 2 + 1 + 50, per_primary

info = rc.cluster_info()
assert info["cluster_state"] == "ok", info
print(f"ok {n} keys over {len(slots)} slots, {len(masters)} masters")
