#!/usr/bin/env bash
# Runs the same produce workload through ferrokafka, librdkafka and krafka
# against one broker, one JSON line each.
#   benches/peers/run.sh BOOTSTRAP [RECORDS] [extra args for all three]
# Needs cmake and libcurl/openssl/sasl/zlib headers for librdkafka's build
# (Debian: apt-get install cmake libcurl4-openssl-dev libssl-dev libsasl2-dev zlib1g-dev).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bootstrap=${1:?bootstrap address}
records=${2:-1000000}
shift $(( $# >= 2 ? 2 : $# ))
(cd "$root" && cargo build --quiet --release -p ferrokafka-cli)
(cd "$here" && cargo build --quiet --release)
stamp=$(date +%s)
partitions=${PARTITIONS:-3}
for c in ferrokafka rdkafka krafka; do
    "$root/target/release/ferrokafka" create-topic --bootstrap "$bootstrap" --topic "peers-$c-$stamp" --partitions "$partitions"
done
"$root/target/release/ferrokafka" perf produce --bootstrap "$bootstrap" --topic "peers-ferrokafka-$stamp" --records "$records" --json "$@"
"$here/target/release/ferrokafka-peers" --client rdkafka --bootstrap "$bootstrap" --topic "peers-rdkafka-$stamp" --records "$records" "$@"
"$here/target/release/ferrokafka-peers" --client krafka --bootstrap "$bootstrap" --topic "peers-krafka-$stamp" --records "$records" "$@"
