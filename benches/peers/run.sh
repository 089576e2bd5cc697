#!/usr/bin/env bash
# Runs the same produce workload through ferrokafka, librdkafka and krafka
# against one broker, one JSON line each.
#   benches/peers/run.sh [BOOTSTRAP|-] [RECORDS] [extra args for all three]
# Without a bootstrap address (or with `-`), a single-node Apache Kafka 4.x
# is started by scripts/kafka for the run and stopped after it
# (KAFKA_VERSION=3.9 for the other pinned version).
# Needs cmake and libcurl/openssl/sasl/zlib headers for librdkafka's build
# (Debian: apt-get install cmake libcurl4-openssl-dev libssl-dev libsasl2-dev zlib1g-dev).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bootstrap=${1:--}
records=${2:-1000000}
shift $(( $# >= 2 ? 2 : $# ))
(cd "$root" && cargo build --quiet --release -p ferrokafka-cli)
(cd "$here" && cargo build --quiet --release)
if [ "$bootstrap" = "-" ]; then
    name="peers-$$"
    trap '"$root/scripts/kafka" stop "$name" >/dev/null 2>&1 || true' EXIT INT TERM
    bootstrap=$("$root/scripts/kafka" start "$name" --version "${KAFKA_VERSION:-4}")
    echo "== Kafka $(cat "$root/target/kafka/run/$name/version") at $bootstrap" >&2
fi
stamp=$(date +%s)
partitions=${PARTITIONS:-3}
for c in ferrokafka rdkafka krafka; do
    "$root/target/release/ferrokafka" create-topic --bootstrap "$bootstrap" --topic "peers-$c-$stamp" --partitions "$partitions"
done
"$root/target/release/ferrokafka" perf produce --bootstrap "$bootstrap" --topic "peers-ferrokafka-$stamp" --records "$records" --json "$@"
"$here/target/release/ferrokafka-peers" --client rdkafka --bootstrap "$bootstrap" --topic "peers-rdkafka-$stamp" --records "$records" "$@"
"$here/target/release/ferrokafka-peers" --client krafka --bootstrap "$bootstrap" --topic "peers-krafka-$stamp" --records "$records" "$@"
