// The Java client (Apache Kafka's own kafka-clients, the reference
// implementation) driven from the command line, so tests/interop/test_java.py
// can check the mock cluster and ferrokafka's producer against it.
//
// Every subcommand prints exactly one JSON line on standard output and
// nothing else; logging and anything a library prints go to standard error.
// Built by build.sh next to this file; run as
//   java -cp "OUTDIR:LIBDIR/*" Peer SUBCOMMAND --flag value ...
//
// Subcommands:
//   create-topic --bootstrap B --topic T [--partitions P] [--replication-factor R]
//   produce-txn  --bootstrap B --topic T --transactional-id ID --transactions N
//                --records-per-txn K [--abort-every M] [--property k=v]...
//   consume      --bootstrap B --topic T [--isolation read_committed|read_uncommitted]
//                --expect N [--timeout-ms X] [--quiet-ms Q] [--property k=v]...
//   fence        --bootstrap B --topic T --transactional-id ID

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public final class Peer {
    // The real standard output, kept for the one JSON line: System.out itself
    // is pointed at standard error so that nothing else can land on it.
    private static PrintStream out;

    public static void main(String[] argv) throws Exception {
        out = System.out;
        System.setOut(System.err);
        // Our log4j2 configuration (WARN and up, to standard error) unless the
        // caller chose another; set before any Kafka class creates a logger.
        if (System.getProperty("log4j2.configurationFile") == null) {
            System.setProperty("log4j2.configurationFile", "peer-log4j2.properties");
        }
        if (argv.length == 0) {
            usage("no subcommand");
        }
        Args args = new Args(argv);
        Map<String, Object> result;
        switch (argv[0]) {
            case "create-topic" -> result = createTopic(args);
            case "produce-txn" -> result = produceTxn(args);
            case "consume" -> result = consume(args);
            case "fence" -> result = fence(args);
            default -> {
                usage("unknown subcommand " + argv[0]);
                return;
            }
        }
        args.checkAllUsed();
        out.println(Json.write(result));
        out.flush();
        // The clients are closed, but a stray non-daemon thread must not keep
        // the test waiting.
        System.exit(0);
    }

    static void usage(String why) {
        System.err.println("Peer: " + why);
        System.err.println("usage: Peer create-topic|produce-txn|consume|fence --bootstrap B --topic T ...");
        System.exit(2);
    }

    // ---- create-topic -------------------------------------------------------

    static Map<String, Object> createTopic(Args args) throws Exception {
        String bootstrap = args.required("bootstrap");
        String topic = args.required("topic");
        int partitions = args.integer("partitions", 1);
        short rf = (short) args.integer("replication-factor", 1);
        Properties props = new Properties();
        props.put("bootstrap.servers", bootstrap);
        boolean created = true;
        try (Admin admin = Admin.create(props)) {
            try {
                admin.createTopics(List.of(new NewTopic(topic, partitions, rf))).all().get();
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof TopicExistsException)) {
                    throw e;
                }
                created = false;
            }
            // CreateTopics answers before every broker knows the leaders;
            // wait until metadata shows one for each partition so the next
            // client does not start on a half-made topic.
            long deadline = System.currentTimeMillis() + 30_000;
            while (true) {
                try {
                    TopicDescription d = admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic);
                    if (d.partitions().size() == partitions
                            && d.partitions().stream().allMatch(p -> p.leader() != null && !p.leader().isEmpty())) {
                        break;
                    }
                } catch (ExecutionException e) {
                    // UNKNOWN_TOPIC_OR_PARTITION until metadata propagates.
                }
                if (System.currentTimeMillis() > deadline) {
                    throw new IllegalStateException("topic " + topic + " has no leaders after 30 s");
                }
                Thread.sleep(100);
            }
        }
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("topic", topic);
        r.put("created", created);
        r.put("partitions", partitions);
        return r;
    }

    // ---- produce-txn --------------------------------------------------------

    static Properties txnProducerProps(String bootstrap, String txnId) {
        Properties props = new Properties();
        props.put("bootstrap.servers", bootstrap);
        props.put("transactional.id", txnId);
        props.put("key.serializer", StringSerializer.class.getName());
        props.put("value.serializer", StringSerializer.class.getName());
        // Small batches spread over a few requests, so the broker sees more
        // than one batch per transaction and partition.
        props.put("linger.ms", "5");
        props.put("batch.size", "512");
        return props;
    }

    static Map<String, Object> produceTxn(Args args) throws Exception {
        String bootstrap = args.required("bootstrap");
        String topic = args.required("topic");
        String txnId = args.required("transactional-id");
        int transactions = args.integer("transactions", 1);
        int perTxn = args.integer("records-per-txn", 1);
        int abortEvery = args.integer("abort-every", 0);
        Properties props = txnProducerProps(bootstrap, txnId);
        props.putAll(args.properties());

        List<Map<String, Object>> committed = new ArrayList<>();
        List<Map<String, Object>> aborted = new ArrayList<>();
        int seq = 0;
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(props)) {
            producer.initTransactions();
            for (int t = 0; t < transactions; t++) {
                producer.beginTransaction();
                List<Future<RecordMetadata>> acks = new ArrayList<>();
                List<Map<String, Object>> sent = new ArrayList<>();
                for (int i = 0; i < perTxn; i++, seq++) {
                    String key = "k" + (seq % 7);
                    String value = "t" + t + "-r" + i;
                    ProducerRecord<String, String> rec = new ProducerRecord<>(topic, key, value);
                    // A header too, so header round trips are checked on the way.
                    rec.headers().add("txn", Integer.toString(t).getBytes(StandardCharsets.UTF_8));
                    acks.add(producer.send(rec));
                    Map<String, Object> r = new LinkedHashMap<>();
                    r.put("key", key);
                    r.put("value", value);
                    r.put("headers", List.of(List.of("txn", Integer.toString(t))));
                    sent.add(r);
                }
                boolean abort = abortEvery > 0 && (t + 1) % abortEvery == 0;
                if (abort) {
                    // Flush first: abortTransaction drops what is not sent yet,
                    // and the test wants aborted records in the log, for
                    // read_committed to filter out.
                    producer.flush();
                    fillMetadata(sent, acks);
                    producer.abortTransaction();
                    aborted.addAll(sent);
                } else {
                    producer.commitTransaction();
                    fillMetadata(sent, acks);
                    committed.addAll(sent);
                }
            }
        }
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("committed", committed);
        r.put("aborted", aborted);
        return r;
    }

    // Where each record went; the sends are complete (flushed or committed),
    // so the futures are done.
    static void fillMetadata(List<Map<String, Object>> sent, List<Future<RecordMetadata>> acks) throws Exception {
        for (int i = 0; i < sent.size(); i++) {
            RecordMetadata md = acks.get(i).get();
            sent.get(i).put("partition", md.partition());
            sent.get(i).put("offset", md.offset());
        }
    }

    // ---- consume ------------------------------------------------------------

    static Map<String, Object> consume(Args args) throws Exception {
        String bootstrap = args.required("bootstrap");
        String topic = args.required("topic");
        String isolation = args.get("isolation", "read_uncommitted");
        int expect = args.integer("expect", 0);
        long timeoutMs = args.integer("timeout-ms", 30_000);
        long quietMs = args.integer("quiet-ms", 1_000);
        Properties props = new Properties();
        props.put("bootstrap.servers", bootstrap);
        props.put("isolation.level", isolation);
        // No group: partitions are assigned by hand, nothing is committed.
        props.put("enable.auto.commit", "false");
        props.put("auto.offset.reset", "earliest");
        props.put("key.deserializer", ByteArrayDeserializer.class.getName());
        props.put("value.deserializer", ByteArrayDeserializer.class.getName());
        props.putAll(args.properties());

        List<Map<String, Object>> records = new ArrayList<>();
        Map<String, Object> positions = new TreeMap<>();
        Map<String, Object> endOffsets = new TreeMap<>();
        boolean timedOut = false;
        long start = System.currentTimeMillis();
        long deadline = start + timeoutMs;
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props)) {
            List<TopicPartition> tps = new ArrayList<>();
            // Metadata for a topic made a moment ago may not be everywhere yet.
            while (tps.isEmpty()) {
                List<PartitionInfo> infos = consumer.partitionsFor(topic, Duration.ofSeconds(5));
                if (infos != null) {
                    for (PartitionInfo p : infos) {
                        tps.add(new TopicPartition(topic, p.partition()));
                    }
                }
                if (tps.isEmpty()) {
                    if (System.currentTimeMillis() > deadline) {
                        throw new IllegalStateException("no partitions for topic " + topic);
                    }
                    Thread.sleep(200);
                }
            }
            tps.sort((a, b) -> Integer.compare(a.partition(), b.partition()));
            consumer.assign(tps);
            consumer.seekToBeginning(tps);
            // Until the expected count, then a quiet period to catch records
            // that should not be there (duplicates, aborted ones).
            long quietUntil = Long.MAX_VALUE;
            while (true) {
                long now = System.currentTimeMillis();
                if (now >= quietUntil) {
                    break;
                }
                if (now >= deadline) {
                    timedOut = records.size() < expect;
                    break;
                }
                for (ConsumerRecord<byte[], byte[]> rec : consumer.poll(Duration.ofMillis(100))) {
                    Map<String, Object> r = new LinkedHashMap<>();
                    r.put("partition", rec.partition());
                    r.put("offset", rec.offset());
                    r.put("key", str(rec.key()));
                    r.put("value", str(rec.value()));
                    List<Object> headers = new ArrayList<>();
                    for (Header h : rec.headers()) {
                        headers.add(List.of(h.key(), str(h.value())));
                    }
                    r.put("headers", headers);
                    records.add(r);
                }
                if (records.size() >= expect && quietUntil == Long.MAX_VALUE) {
                    quietUntil = System.currentTimeMillis() + quietMs;
                }
            }
            // Where the consumer stands and where the log ends (the last
            // stable offset under read_committed): after reading everything
            // the two are equal, control records included.
            for (TopicPartition tp : tps) {
                positions.put(Integer.toString(tp.partition()), consumer.position(tp, Duration.ofSeconds(10)));
            }
            for (Map.Entry<TopicPartition, Long> e : consumer.endOffsets(tps, Duration.ofSeconds(10)).entrySet()) {
                endOffsets.put(Integer.toString(e.getKey().partition()), e.getValue());
            }
        }
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("records", records);
        r.put("timed_out", timedOut);
        r.put("positions", positions);
        r.put("end_offsets", endOffsets);
        r.put("ms", System.currentTimeMillis() - start);
        return r;
    }

    static String str(byte[] b) {
        return b == null ? null : new String(b, StandardCharsets.UTF_8);
    }

    // ---- fence --------------------------------------------------------------

    // Producer A opens a transaction and writes to the log; producer B with the
    // same transactional.id calls initTransactions, which must fence A (and
    // abort A's open transaction). A then tries to go on; what A saw at each
    // step is reported. B commits one record.
    static Map<String, Object> fence(Args args) throws Exception {
        String bootstrap = args.required("bootstrap");
        String topic = args.required("topic");
        String txnId = args.required("transactional-id");
        Map<String, Object> r = new LinkedHashMap<>();
        KafkaProducer<String, String> a = new KafkaProducer<>(txnProducerProps(bootstrap, txnId));
        try {
            a.initTransactions();
            a.beginTransaction();
            a.send(new ProducerRecord<>(topic, "a", "a-open")).get();
            r.put("a_open_sent", true);

            try (KafkaProducer<String, String> b = new KafkaProducer<>(txnProducerProps(bootstrap, txnId))) {
                b.initTransactions();
                r.put("b_init", true);

                // The zombie goes on: its send and its commit must fail.
                Map<String, Object> zombie = new LinkedHashMap<>();
                try {
                    a.send(new ProducerRecord<>(topic, "a", "a-zombie")).get();
                    zombie.put("send", "ok");
                } catch (Exception e) {
                    zombie.put("send", describe(e));
                }
                try {
                    a.commitTransaction();
                    zombie.put("commit", "ok");
                } catch (Exception e) {
                    zombie.put("commit", describe(e));
                }
                // Its commit failed; an application would now abort, which
                // takes an EndTxn to the coordinator with the old epoch.
                try {
                    a.abortTransaction();
                    zombie.put("abort", "ok");
                } catch (Exception e) {
                    zombie.put("abort", describe(e));
                }
                r.put("zombie", zombie);

                b.beginTransaction();
                b.send(new ProducerRecord<>(topic, "b", "b-committed")).get();
                b.commitTransaction();
                r.put("b_committed", true);
            }
        } finally {
            // A is in a fatal state: close without waiting for anything.
            a.close(Duration.ZERO);
        }
        return r;
    }

    // The exception and its causes, outermost first, as class names and
    // messages; the test decides which of them mean "fenced".
    static List<Object> describe(Throwable e) {
        List<Object> chain = new ArrayList<>();
        for (Throwable t = e; t != null && chain.size() < 5; t = t.getCause()) {
            chain.add(List.of(t.getClass().getName(), String.valueOf(t.getMessage())));
        }
        return chain;
    }

    // ---- command line -------------------------------------------------------

    // "--name value" pairs after the subcommand; "--property k=v" repeats.
    static final class Args {
        private final Map<String, String> values = new LinkedHashMap<>();
        private final Properties props = new Properties();
        private final java.util.Set<String> used = new java.util.HashSet<>();

        Args(String[] argv) {
            for (int i = 1; i < argv.length; i += 2) {
                if (!argv[i].startsWith("--") || i + 1 >= argv.length) {
                    usage("expected --flag value at " + argv[i]);
                }
                String name = argv[i].substring(2);
                String value = argv[i + 1];
                if (name.equals("property")) {
                    int eq = value.indexOf('=');
                    if (eq <= 0) {
                        usage("--property wants key=value, got " + value);
                    }
                    props.put(value.substring(0, eq), value.substring(eq + 1));
                } else if (values.put(name, value) != null) {
                    usage("--" + name + " given twice");
                }
            }
        }

        String get(String name, String dflt) {
            used.add(name);
            return values.getOrDefault(name, dflt);
        }

        String required(String name) {
            String v = get(name, null);
            if (v == null) {
                usage("--" + name + " is required");
            }
            return v;
        }

        int integer(String name, int dflt) {
            String v = get(name, null);
            if (v == null) {
                return dflt;
            }
            try {
                return Integer.parseInt(v);
            } catch (NumberFormatException e) {
                usage("--" + name + " wants a number, got " + v);
                return dflt;
            }
        }

        Properties properties() {
            return props;
        }

        // A misspelt flag is an error, not a silently ignored default.
        void checkAllUsed() {
            for (String name : values.keySet()) {
                if (!used.contains(name)) {
                    usage("unknown flag --" + name);
                }
            }
        }
    }

    // ---- JSON output ----------------------------------------------------------

    // Just enough JSON for maps, lists, strings, numbers, booleans and null.
    static final class Json {
        static String write(Object v) {
            StringBuilder sb = new StringBuilder();
            write(sb, v);
            return sb.toString();
        }

        static void write(StringBuilder sb, Object v) {
            if (v == null) {
                sb.append("null");
            } else if (v instanceof String s) {
                string(sb, s);
            } else if (v instanceof Number || v instanceof Boolean) {
                sb.append(v);
            } else if (v instanceof Map<?, ?> m) {
                sb.append('{');
                boolean first = true;
                for (Map.Entry<?, ?> e : m.entrySet()) {
                    if (!first) {
                        sb.append(',');
                    }
                    first = false;
                    string(sb, String.valueOf(e.getKey()));
                    sb.append(':');
                    write(sb, e.getValue());
                }
                sb.append('}');
            } else if (v instanceof Collection<?> c) {
                sb.append('[');
                boolean first = true;
                for (Object o : c) {
                    if (!first) {
                        sb.append(',');
                    }
                    first = false;
                    write(sb, o);
                }
                sb.append(']');
            } else {
                string(sb, v.toString());
            }
        }

        static void string(StringBuilder sb, String s) {
            sb.append('"');
            for (int i = 0; i < s.length(); i++) {
                char c = s.charAt(i);
                switch (c) {
                    case '"' -> sb.append("\\\"");
                    case '\\' -> sb.append("\\\\");
                    case '\n' -> sb.append("\\n");
                    case '\r' -> sb.append("\\r");
                    case '\t' -> sb.append("\\t");
                    default -> {
                        if (c < 0x20) {
                            sb.append(String.format("\\u%04x", (int) c));
                        } else {
                            sb.append(c);
                        }
                    }
                }
            }
            sb.append('"');
        }
    }
}
