"""Checks by Apache Kafka's own Java client (kafka-clients, the reference
implementation), through the small program in tests/interop/java/Peer.java.

The same assertions run against the mock cluster (FERROKAFKA_INTEROP_TARGET
`mock`) and against real Apache Kafka (`kafka`), so a difference between the
two fails here. Environment:

  FERROKAFKA_INTEROP_BOOTSTRAP  the broker(s)
  FERROKAFKA_INTEROP_TARGET     `mock` or `kafka` (reported only: no test is
                                skipped or relaxed for either)
  FERROKAFKA_JAVA_PEER_CP       classpath to run Peer: "OUTDIR:LIBDIR/*", where
                                tests/interop/java/build.sh LIBDIR OUTDIR built it
  FERROKAFKA_CLI                the built `ferrokafka` binary, for the tests
                                that produce with ferrokafka
  FERROKAFKA_JAVA               the java binary (default: $JAVA_HOME/bin/java,
                                else `java`)

Topics are always created explicitly: a real broker here runs with
auto.create.topics.enable=false.
"""

import collections
import json
import os
import subprocess
import uuid

import pytest

BOOTSTRAP = os.environ.get("FERROKAFKA_INTEROP_BOOTSTRAP")
TARGET = os.environ.get("FERROKAFKA_INTEROP_TARGET", "mock")
PEER_CP = os.environ.get("FERROKAFKA_JAVA_PEER_CP")
CLI = os.environ.get("FERROKAFKA_CLI")
JAVA = os.environ.get("FERROKAFKA_JAVA") or (
    os.path.join(os.environ["JAVA_HOME"], "bin", "java") if os.environ.get("JAVA_HOME") else "java"
)

pytestmark = [
    pytest.mark.skipif(not BOOTSTRAP, reason="FERROKAFKA_INTEROP_BOOTSTRAP not set"),
    pytest.mark.skipif(
        not PEER_CP,
        reason="FERROKAFKA_JAVA_PEER_CP not set (build the peer with tests/interop/java/build.sh LIBDIR OUTDIR "
        "and set it to OUTDIR:LIBDIR/*)",
    ),
]

needs_cli = pytest.mark.skipif(not CLI, reason="FERROKAFKA_CLI (the built ferrokafka binary) not set")

# Short-lived JVMs: the C1 compiler only and the serial collector start
# fastest, and the machine has two cores.
JVM_FLAGS = ["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xmx256m"]

# What the Java client reports when the broker refuses a zombie producer:
# INVALID_PRODUCER_EPOCH on Produce becomes the abortable
# InvalidProducerEpochException, PRODUCER_FENCED the fatal
# ProducerFencedException.
FENCED = {
    "org.apache.kafka.common.errors.ProducerFencedException",
    "org.apache.kafka.common.errors.InvalidProducerEpochException",
}


def unique(name):
    return f"{name}-{uuid.uuid4().hex[:8]}"


def run(cmd, timeout):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, f"{' '.join(cmd)} failed ({p.returncode}) against {TARGET}:\n{p.stderr[-4000:]}"
    lines = p.stdout.strip().splitlines()
    assert len(lines) == 1, f"expected one JSON line from {cmd[0]}, got:\n{p.stdout[-4000:]}"
    return json.loads(lines[0])


def peer(*args, timeout=120):
    """Runs one Peer subcommand; returns its JSON answer."""
    return run([JAVA, *JVM_FLAGS, "-cp", PEER_CP, "Peer", *args, "--bootstrap", BOOTSTRAP], timeout)


def java_create_topic(topic, partitions):
    r = peer("create-topic", "--topic", topic, "--partitions", str(partitions), "--replication-factor", "1")
    assert r["created"], r


def java_consume(topic, expect, isolation):
    r = peer("consume", "--topic", topic, "--isolation", isolation, "--expect", str(expect), "--timeout-ms", "60000")
    assert not r["timed_out"], f"{isolation}: {len(r['records'])} of {expect} records within 60 s"
    return r


def by_partition(records):
    """Records grouped by partition, each list in the order given."""
    out = collections.defaultdict(list)
    for r in records:
        out[r["partition"]].append(r)
    return dict(out)


def ident(r):
    """What identifies a record in the log, and its content."""
    return (r["partition"], r["offset"], r["key"], r["value"], tuple(map(tuple, r["headers"])))


def assert_read_back(got, expected, label):
    """`got` (consumer order) holds exactly the records of `expected`
    (producer order, with the offsets the broker acknowledged), each once,
    and in every partition in the order they were sent."""
    ids = [ident(r) for r in got]
    assert len(ids) == len(set(ids)), f"{label}: a record came twice"
    missing = {ident(r) for r in expected} - set(ids)
    extra = set(ids) - {ident(r) for r in expected}
    assert not missing and not extra, f"{label}: missing {sorted(missing)[:5]}, extra {sorted(extra)[:5]}"
    sent = by_partition(expected)
    for part, recs in by_partition(got).items():
        offsets = [r["offset"] for r in recs]
        assert offsets == sorted(offsets), f"{label}: partition {part} read out of order"
        # Send order within a partition is offset order (the idempotent
        # producer keeps it), and the consumer returns it.
        assert [r["value"] for r in recs] == [r["value"] for r in sent[part]], f"{label}: order in partition {part}"


def test_java_transactions_commits_and_aborts():
    """Java transactional producer, every third transaction aborted (the last
    one among them, so the log ends in an aborted transaction), read back
    by the Java consumer at both isolation levels."""
    topic = unique("jtxn")
    partitions, transactions, per_txn, abort_every = 3, 6, 20, 3
    java_create_topic(topic, partitions)
    produced = peer(
        "produce-txn", "--topic", topic, "--transactional-id", unique("jtxn-id"),
        "--transactions", str(transactions), "--records-per-txn", str(per_txn), "--abort-every", str(abort_every),
    )
    committed, aborted = produced["committed"], produced["aborted"]
    n_aborted = transactions // abort_every
    assert len(aborted) == n_aborted * per_txn
    assert len(committed) == (transactions - n_aborted) * per_txn
    assert {r["value"].split("-")[0] for r in aborted} == {f"t{t}" for t in range(abort_every - 1, transactions, abort_every)}
    for label, recs in (("committed", committed), ("aborted", aborted)):
        for part, rs in by_partition(recs).items():
            offs = [r["offset"] for r in rs]
            assert offs == sorted(offs), f"acknowledged offsets of {label} records in partition {part} out of send order"

    rc = java_consume(topic, len(committed), "read_committed")
    assert_read_back(rc["records"], committed, "read_committed")

    ru = java_consume(topic, len(committed) + len(aborted), "read_uncommitted")
    # Acknowledged offsets interleave committed and aborted records by
    # transaction; merge them back into send order per partition.
    everything = sorted(committed + aborted, key=lambda r: (r["partition"], r["offset"]))
    assert_read_back(ru["records"], everything, "read_uncommitted")

    # The log layout Kafka makes: every transaction ends with one control
    # record (commit or abort marker) in each partition it wrote to, so a
    # partition's end offset is its data records plus its transactions; the
    # consumer's position after reading everything is that end (read_committed:
    # the last stable offset, which is the same once every transaction ended).
    touched = collections.defaultdict(set)
    for r in everything:
        touched[r["partition"]].add(r["value"].split("-")[0])
    data = collections.Counter(r["partition"] for r in everything)
    expected_end = {str(p): data[p] + len(touched[p]) for p in range(partitions)}
    for label, r in (("read_committed", rc), ("read_uncommitted", ru)):
        assert r["end_offsets"] == expected_end, f"{label} end offsets"
        assert r["positions"] == expected_end, f"{label} positions"


def test_java_zombie_producer_is_fenced():
    """A second producer with the same transactional.id fences the first and
    aborts its open transaction; the zombie can neither write nor commit."""
    topic = unique("jfence")
    java_create_topic(topic, 2)
    r = peer("fence", "--topic", topic, "--transactional-id", unique("jfence-id"))
    assert r.get("a_open_sent") and r.get("b_init") and r.get("b_committed"), r
    zombie = r["zombie"]
    seen = set()
    for step in ("send", "commit", "abort"):
        assert zombie[step] != "ok", f"the zombie's {step} succeeded: {r}"
        classes = {cls for cls, _ in zombie[step]}
        assert classes & FENCED, f"zombie {step}: {zombie[step]}"
        seen |= classes
    # At least one answer is the coordinator's own PRODUCER_FENCED.
    assert "org.apache.kafka.common.errors.ProducerFencedException" in seen, zombie

    committed = java_consume(topic, 1, "read_committed")["records"]
    assert [(x["key"], x["value"]) for x in committed] == [("b", "b-committed")]
    # The zombie's open transaction was aborted, not lost: read_uncommitted
    # sees its first record; its later write never reached the log.
    everything = java_consume(topic, 2, "read_uncommitted")["records"]
    assert sorted(x["value"] for x in everything) == ["a-open", "b-committed"]


def perf_payload(size):
    # The value `ferrokafka perf produce` sends (cli/src/perf.rs): one
    # payload for every record, byte i = 'a' + (i * 7 % 26).
    return "".join(chr(ord("a") + (i * 7 % 26)) for i in range(size))


@needs_cli
@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_java_reads_what_ferrokafka_writes(codec):
    """ferrokafka's idempotent producer writes, the Java consumer reads.

    `perf produce` sends keyless records, all with the same value and no
    headers, so content is checked as that value byte for byte, and exactly
    once as counts: every partition holds offsets 0..n-1 with no gap, no
    duplicate and nothing else (non-transactional: no control records), and
    the partitions add up to the number sent."""
    topic = unique(f"ours-{codec}")
    records, size, partitions = 3000, 37, 3
    subprocess.run([CLI, "create-topic", "--bootstrap", BOOTSTRAP, "--topic", topic, "--partitions", str(partitions)],
                   check=True, timeout=60)
    report = run([CLI, "perf", "produce", "--bootstrap", BOOTSTRAP, "--topic", topic, "--records", str(records),
                  "--record-size", str(size), "--compression", codec, "--json"], timeout=120)
    assert report["failed"] == 0 and report["records"] == records, report

    r = java_consume(topic, records, "read_committed")
    got = r["records"]
    assert len(got) == records, f"{len(got)} records read, {records} sent"
    payload = perf_payload(size)
    bad = [x for x in got if x["key"] is not None or x["value"] != payload or x["headers"]]
    assert not bad, f"{len(bad)} records differ from what was sent, first {bad[0]}"
    counts = {}
    for part, recs in by_partition(got).items():
        assert [x["offset"] for x in recs] == list(range(len(recs))), f"partition {part}: offsets not 0..n-1"
        counts[str(part)] = len(recs)
    assert sum(counts.values()) == records
    ends = {p: n for p, n in r["end_offsets"].items() if n}
    assert ends == counts, f"log end offsets {r['end_offsets']} vs records read per partition {counts}"
