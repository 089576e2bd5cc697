"""Cross-validation of the mock cluster by a client nobody here wrote:
librdkafka, through the Python confluent-kafka package.

Run by scripts/test against the standalone mock (`ferrokafka mock`) and
against real Apache Kafka, the same tests with the same assertions. Set
FERROKAFKA_INTEROP_TARGET to `mock` or `kafka` and FERROKAFKA_INTEROP_BOOTSTRAP
to its address. Topics are created explicitly: real clusters usually have
auto-creation off.
"""

import os
import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

BOOTSTRAP = os.environ.get("FERROKAFKA_INTEROP_BOOTSTRAP")

pytestmark = pytest.mark.skipif(not BOOTSTRAP, reason="FERROKAFKA_INTEROP_BOOTSTRAP not set")

def unique(name):
    return f"{name}-{uuid.uuid4().hex[:8]}"


def create_topic(name, partitions):
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    for _, f in admin.create_topics([NewTopic(name, partitions, 1)]).items():
        f.result(30)
    # Wait until every partition has a leader.
    deadline = time.time() + 30
    while time.time() < deadline:
        md = admin.list_topics(name, timeout=10)
        t = md.topics.get(name)
        if t and t.error is None and len(t.partitions) == partitions and all(p.leader >= 0 for p in t.partitions.values()):
            return
        time.sleep(0.2)
    raise AssertionError(f"topic {name} has no leaders")


def consume_all(topic, partitions, expected, isolation="read_uncommitted", timeout=30):
    c = Consumer({
        "bootstrap.servers": BOOTSTRAP,
        "group.id": unique("reader"),
        "enable.auto.commit": False,
        "isolation.level": isolation,
        "auto.offset.reset": "earliest",
    })
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    out = []
    deadline = time.time() + timeout
    quiet_until = None
    while time.time() < deadline:
        m = c.poll(0.2)
        if m is None:
            if len(out) >= expected:
                # Wait a little longer for anything that should not be there.
                quiet_until = quiet_until or time.time() + 1.0
                if time.time() > quiet_until:
                    break
            continue
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                continue
            raise KafkaException(m.error())
        out.append((m.partition(), m.offset(), m.key(), m.value()))
    c.close()
    return out


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_idempotent_produce_every_codec(codec):
    topic = unique(f"idem-{codec}")
    create_topic(topic, 3)
    p = Producer({"bootstrap.servers": BOOTSTRAP, "enable.idempotence": True, "acks": "all",
                  "compression.type": codec, "linger.ms": 5, "max.in.flight.requests.per.connection": 5})
    errors = []
    for i in range(300):
        p.produce(topic, key=f"k{i % 17}", value=f"v{i}",
                  on_delivery=lambda e, m: errors.append(e) if e else None)
    assert p.flush(30) == 0
    assert errors == []
    got = consume_all(topic, 3, 300)
    assert len(got) == 300
    values = sorted(int(v[1:]) for _, _, _, v in got)
    assert values == list(range(300)), "every record exactly once"
    # Per key (hence per partition) the order of sends is kept.
    by_key = {}
    for part, off, k, v in sorted(got, key=lambda r: (r[0], r[1])):
        by_key.setdefault(k, []).append(int(v[1:]))
    for k, vs in by_key.items():
        assert vs == sorted(vs), f"order of key {k}"


def test_consume_transform_produce_with_an_aborted_transaction():
    src, dst = unique("ctp-in"), unique("ctp-out")
    create_topic(src, 1)
    create_topic(dst, 2)
    p = Producer({"bootstrap.servers": BOOTSTRAP})
    for i in range(30):
        p.produce(src, key=f"k{i}", value=f"{i}")
    assert p.flush(30) == 0

    group = unique("ctp-group")
    consumer = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": group, "enable.auto.commit": False,
                         "auto.offset.reset": "earliest", "isolation.level": "read_committed",
                         "session.timeout.ms": 6000})
    consumer.subscribe([src])
    producer = Producer({"bootstrap.servers": BOOTSTRAP, "transactional.id": unique("ctp-txn"),
                         "transaction.timeout.ms": 60000})
    producer.init_transactions(30)

    processed, batch_no, aborted_values = 0, 0, set()
    deadline = time.time() + 60
    while processed < 30 and time.time() < deadline:
        msgs = consumer.consume(10, 1.0)
        msgs = [m for m in msgs if not m.error()]
        if not msgs:
            continue
        producer.begin_transaction()
        for m in msgs:
            producer.produce(dst, key=m.key(), value=b"out-" + m.value())
        batch_no += 1
        if batch_no == 2:
            # Abort this one and rewind, as an application would.
            aborted_values.update(b"out-" + m.value() for m in msgs)
            # Flush first: abort_transaction purges records not yet sent,
            # and this test wants aborted records in the log.
            assert producer.flush(30) == 0
            producer.abort_transaction(30)
            for tp in consumer.assignment():
                committed = consumer.committed([tp], 10)[0]
                consumer.seek(TopicPartition(tp.topic, tp.partition, committed.offset if committed.offset >= 0 else 0))
            continue
        offsets = [TopicPartition(m.topic(), m.partition(), m.offset() + 1) for m in msgs]
        producer.send_offsets_to_transaction(offsets, consumer.consumer_group_metadata(), 30)
        producer.commit_transaction(30)
        processed += len(msgs)
    consumer.close()
    assert processed == 30
    assert aborted_values, "one transaction was aborted"

    committed = consume_all(dst, 2, 30, isolation="read_committed")
    values = sorted(int(v[4:]) for _, _, _, v in committed)
    assert values == list(range(30)), "every committed record once, no aborted ones"

    # read_uncommitted sees the aborted records too.
    everything = consume_all(dst, 2, 30 + len(aborted_values))
    assert len(everything) == 30 + len(aborted_values)

    # The group's committed offset is the end of the input.
    c = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": group})
    assert c.committed([TopicPartition(src, 0)], 10)[0].offset == 30
    c.close()


def test_zombie_producer_is_fenced():
    topic = unique("fence")
    create_topic(topic, 2)
    tid = unique("fence-txn")
    a = Producer({"bootstrap.servers": BOOTSTRAP, "transactional.id": tid})
    a.init_transactions(30)
    a.begin_transaction()
    a.produce(topic, key="a", value="from-a-open")
    a.flush(10)
    b = Producer({"bootstrap.servers": BOOTSTRAP, "transactional.id": tid})
    b.init_transactions(30)  # fences A and aborts its open transaction
    with pytest.raises(KafkaException) as err:
        a.produce(topic, key="a", value="from-a-zombie")
        a.flush(10)
        a.commit_transaction(10)
    assert err.value.args[0].fatal() or err.value.args[0].code() in (KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH)
    b.begin_transaction()
    b.produce(topic, key="b", value="from-b")
    b.commit_transaction(30)
    got = consume_all(topic, 2, 1, isolation="read_committed")
    assert [v for _, _, _, v in got] == [b"from-b"]


def test_two_member_group_splits_and_rebalances():
    topic = unique("grp")
    create_topic(topic, 4)
    p = Producer({"bootstrap.servers": BOOTSTRAP})
    for i in range(40):
        p.produce(topic, partition=i % 4, value=f"{i}")
    assert p.flush(30) == 0
    group = unique("grp")
    conf = {"bootstrap.servers": BOOTSTRAP, "group.id": group, "auto.offset.reset": "earliest",
            "session.timeout.ms": 6000, "heartbeat.interval.ms": 500, "enable.auto.commit": False,
            "partition.assignment.strategy": "range"}
    c1, c2 = Consumer(conf), Consumer(conf)
    c1.subscribe([topic])
    c2.subscribe([topic])
    deadline = time.time() + 60
    a1, a2 = [], []
    while time.time() < deadline:
        c1.poll(0.1)
        c2.poll(0.1)
        a1, a2 = c1.assignment(), c2.assignment()
        if len(a1) + len(a2) == 4 and a1 and a2:
            break
    parts1 = {tp.partition for tp in a1}
    parts2 = {tp.partition for tp in a2}
    assert len(parts1) == 2 and len(parts2) == 2 and not (parts1 & parts2), (parts1, parts2)
    c1.close()  # leaves the group: c2 takes over everything
    deadline = time.time() + 60
    while time.time() < deadline:
        c2.poll(0.2)
        if len(c2.assignment()) == 4:
            break
    assert {tp.partition for tp in c2.assignment()} == {0, 1, 2, 3}
    c2.close()
