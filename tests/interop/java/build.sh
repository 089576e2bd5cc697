#!/usr/bin/env bash
# Compiles the Java peer (Peer.java) against the Kafka client jars.
#
#   tests/interop/java/build.sh LIBDIR OUTDIR
#
# LIBDIR holds kafka-clients-*.jar and its runtime dependencies (the broker's
# lib dir from `scripts/kafka install` has them all, with log4j2 for slf4j).
# OUTDIR receives Peer*.class and peer-log4j2.properties. Nothing is compiled
# when the classes are newer than the sources and were built against the same
# LIBDIR; silent on success apart from one "==" line on standard error when it
# does compile. Run the peer with:
#
#   java -cp "OUTDIR:LIBDIR/*" Peer SUBCOMMAND ...
set -euo pipefail
if [ $# -ne 2 ]; then
    echo "usage: $0 LIBDIR OUTDIR" >&2
    exit 2
fi
src=$(cd "$(dirname "$0")" && pwd)
lib=$(cd "$1" && pwd)
out=$2
compgen -G "$lib/kafka-clients-*.jar" >/dev/null || { echo "$0: no kafka-clients-*.jar in $lib" >&2; exit 1; }

# Up to date: every class file and the config present, newer than the sources,
# and compiled against this lib dir (another Kafka version means another API).
stale=
for f in Peer.class peer-log4j2.properties .libdir; do
    [ -f "$out/$f" ] || stale=1
done
if [ -z "$stale" ]; then
    for f in "$src/Peer.java" "$src/peer-log4j2.properties" "$0"; do
        [ "$f" -nt "$out/Peer.class" ] && stale=1
    done
    [ "$(cat "$out/.libdir")" = "$lib" ] || stale=1
fi
[ -n "$stale" ] || exit 0

echo "== compiling the Java peer into $out" >&2
mkdir -p "$out"
# Compile into a fresh directory and move the result in, so a failed or
# interrupted build never leaves a half-updated OUTDIR that looks current.
tmp=$(mktemp -d "${out%/}.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
if ! log=$(javac --release 17 -cp "$lib/*" -d "$tmp" "$src/Peer.java" 2>&1); then
    echo "$log" >&2
    exit 1
fi
cp "$src/peer-log4j2.properties" "$tmp/"
rm -f "$out"/Peer*.class
mv "$tmp"/* "$out/"
echo "$lib" >"$out/.libdir"
