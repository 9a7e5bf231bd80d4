#!/usr/bin/env bash
# Runs every GEDCOM measurement reported in docs/benchmarks.md, in one go, on one machine:
# generated inputs, criterion parse/write, peak memory of streaming parses, and the Python
# reference parsers. Usage: services/gedcom/benches/run_benchmarks.sh [OUT_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
out=${1:-/tmp/gedbench}
export DZINZA_GEDCOM_BENCH_DIR=$out
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/work/targets/gedcom}
mkdir -p "$out"
cd "$root"

echo "== machine"; nproc; lscpu | grep 'Model name'; uptime
for n in 10000 100000 1000000; do
  [ -s "$out/gen_$n.ged" ] || python3 ../shared/tools/gedgen.py --individuals $n --seed 5 > "$out/gen_$n.ged"
  ls -l "$out/gen_$n.ged"
done

if [ ! -x "$out/venv/bin/python" ]; then
  python3 -m venv "$out/venv"
  "$out/venv/bin/pip" install -q python-gedcom ged4py
fi
"$out/venv/bin/pip" list 2>/dev/null | grep -Ei 'gedcom|ged4py'

cargo build --release -p dzinza-gedcom --example throughput
echo "== peak memory and CPU time, streaming parse (and parse+write 7.0 / 5.5.1)"
for n in 10000 100000 1000000; do
  /usr/bin/time -f "gen_$n parse: max RSS %M KiB, %e s wall, %U s user" \
    "$CARGO_TARGET_DIR/release/examples/throughput" "$out/gen_$n.ged"
  for v in 7.0 5.5.1; do
    /usr/bin/time -f "gen_$n parse+write $v: max RSS %M KiB, %e s wall, %U s user" \
      "$CARGO_TARGET_DIR/release/examples/throughput" "$out/gen_$n.ged" --write $v
  done
done

echo "== criterion"
cargo bench -p dzinza-gedcom --bench parse_write

echo "== python reference parsers"
for n in 10000 100000 1000000; do
  for p in python-gedcom ged4py; do
    /usr/bin/time -f "$p gen_$n: %e s wall, %U s user" \
      "$out/venv/bin/python" services/gedcom/benches/python_parsers.py $p "$out/gen_$n.ged"
  done
done
uptime
