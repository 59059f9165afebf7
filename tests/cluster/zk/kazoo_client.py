"""kazoo, unchanged, against a troupe ZooKeeper cluster of real processes.

Run by tests/cluster/zk.rs with the servers' addresses. Every check is an assert: a failure
exits non-zero with the step that failed. For the failover step it prints `KILL host:port`
(the server its session is connected to) and waits for a line on stdin saying that server was
killed with SIGKILL; then the same session must go on through another server.
"""
import sys
import threading
import time

from kazoo.client import KazooClient
from kazoo.exceptions import BadVersionError, NoNodeError, NodeExistsError, RolledBackError
from kazoo.recipe.counter import Counter
from kazoo.recipe.election import Election
from kazoo.recipe.lock import Lock

HOSTS = sys.argv[1]


def client(**kw):
    zk = KazooClient(hosts=HOSTS, timeout=10, **kw)
    zk.start(timeout=20)
    return zk


def step(name):
    print("OK", name, flush=True)


def wait_for(cond, what, within=10.0):
    deadline = time.time() + within
    while not cond():
        assert time.time() < deadline, what
        time.sleep(0.02)


zk = client()

# create, get, set, delete, exists, get_children
zk.ensure_path("/app")
assert zk.create("/app/a", b"one") == "/app/a"
data, stat = zk.get("/app/a")
assert data == b"one" and stat.version == 0 and stat.czxid == stat.mzxid > 0
stat = zk.set("/app/a", b"two")
assert stat.version == 1
try:
    zk.set("/app/a", b"x", version=0)
    raise AssertionError("a set with a stale version went through")
except BadVersionError:
    pass
try:
    zk.create("/app/a")
    raise AssertionError("a second create of /app/a went through")
except NodeExistsError:
    pass
assert sorted(zk.get_children("/app")) == ["a"]
children, stat = zk.get_children("/app", include_data=True)
assert stat.numChildren == 1
zk.delete("/app/a")
assert zk.exists("/app/a") is None
try:
    zk.get("/app/a")
    raise AssertionError("a get of a deleted node answered")
except NoNodeError:
    pass
step("crud")

# ephemeral and sequential nodes
s1 = zk.create("/app/q-", b"", sequence=True)
s2 = zk.create("/app/q-", b"", sequence=True, ephemeral=True)
assert s1.startswith("/app/q-") and len(s1) == len("/app/q-") + 10
assert int(s2[-10:]) == int(s1[-10:]) + 1
assert zk.exists(s2).ephemeralOwner == zk.client_id[0]
other = client()
other.create("/app/mine", b"", ephemeral=True)
other.stop()
other.close()
# Reads are served by the replica a client is connected to: sync first, to read past the close.
zk.sync("/app")
assert zk.exists("/app/mine") is None, "an ephemeral node outlived its closed session"
step("ephemeral-sequential")

# a transaction: all or nothing
t = zk.transaction()
t.create("/app/t1", b"1")
t.check("/app", 99)
results = t.commit()
assert isinstance(results[0], RolledBackError) and isinstance(results[1], BadVersionError)
assert zk.exists("/app/t1") is None
t = zk.transaction()
t.create("/app/t1", b"1")
t.set_data("/app/t1", b"2")
results = t.commit()
assert results[0] == "/app/t1" and zk.get("/app/t1")[0] == b"2"
step("transaction")

# data and child watches, each fired once
events = []
zk.get("/app/t1", watch=events.append)
zk.get_children("/app", watch=events.append)
zk.set("/app/t1", b"3")
wait_for(lambda: len(events) >= 1, "no data watch fired")
zk.create("/app/t2")
wait_for(lambda: len(events) >= 2, "no child watch fired")
# Neither fires again. A third watch is the marker: kazoo runs watch callbacks in the order the
# server sent them, and the server sends them in zxid order, so once the marker's has run,
# any second firing of the first two would have run before it.
assert zk.exists("/app/marker", watch=events.append) is None
zk.set("/app/t1", b"4")
zk.create("/app/marker")
wait_for(lambda: len(events) >= 3, "the marker's watch did not fire")
kinds = [(e.type, e.path) for e in events]
assert kinds == [("CHANGED", "/app/t1"), ("CHILD", "/app"), ("CREATED", "/app/marker")], kinds
step("watches")

# recipes: Lock, Counter, Election
counter = Counter(zk, "/counter")
counter += 5
counter += 2
assert counter.value == 7
held = []
lock_a = Lock(zk, "/lock", "a")
lock_b = Lock(client(), "/lock", "b")
with lock_a:
    assert not lock_b.acquire(blocking=False), "two holders of one lock"
    held.append("a")
assert lock_b.acquire(timeout=10)
lock_b.release()
step("lock-counter")

leaders = []
zk2 = client()
stop = threading.Event()


def lead(name):
    leaders.append(name)
    stop.wait()


e1 = Election(zk, "/election", "one")
e2 = Election(zk2, "/election", "two")
t1 = threading.Thread(target=e1.run, args=(lead, "one"), daemon=True)
t1.start()
wait_for(lambda: leaders == ["one"], "no first leader")
t2 = threading.Thread(target=e2.run, args=(lead, "two"), daemon=True)
t2.start()
wait_for(lambda: len(e1.contenders()) == 2, "the second contender does not show")
assert leaders == ["one"], leaders
zk2.stop()
step("election")

# a session survives the SIGKILL of the server it is connected to (kazoo has no setWatches:
# on a connection loss it drops its watches, calling each with a NONE event, so watches across
# a reconnection are tested with zkCli and troupe's Rust client instead)
fo = client(randomize_hosts=False)
session = fo.client_id[0]
fo.create("/failover", b"", ephemeral=True)
host, port = fo._connection._socket.getpeername()
print("KILL %s:%d" % (host, port), flush=True)
assert sys.stdin.readline().strip() == "killed"
deadline = time.time() + 30
while True:
    try:
        stat = fo.exists("/failover")
        break
    except Exception:
        assert time.time() < deadline, "the session did not come back"
        time.sleep(0.1)
assert fo.client_id[0] == session, "a new session after the failover"
assert stat is not None and stat.ephemeralOwner == session, "the ephemeral node is gone"
assert fo._connection._socket.getpeername()[1] != port
fo.set("/failover", b"after")
step("failover")
