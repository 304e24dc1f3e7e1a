# Fuzz target "dfw" (fuzz_dfw: a structured policy, group-address changes and
# packets decoded from the input; every decision of the compiled policy is
# compared with a reference evaluator; seeds: pseudo-random inputs of a few
# sizes, the same on every run), sourced by scripts/fuzz. Defines:
#   fuzz_max_len   the longest input libFuzzer generates
#   fuzz_timeout   seconds one input may take before it counts as a hang
#   fuzz_seed DIR  writes the seed corpus into DIR ($root is the checkout)
# Any input decodes to a case (a spent input reads as zeros, the plain valid
# choices), so the seeds only need to be varied, not well-formed.
fuzz_max_len=4096
fuzz_timeout=10

fuzz_seed() {  # fuzz_seed DIR
  echo "== dfw: pseudo-random seed inputs"
  /usr/bin/python3 - "$1" <<'PY'
import random, sys
rng = random.Random(20261121)
for i, size in enumerate([16, 64, 128, 256, 512, 512, 1024, 1024, 2048, 4096]):
    with open(f"{sys.argv[1]}/random-{i:02d}-{size}", "wb") as f:
        f.write(bytes(rng.randrange(256) for _ in range(size)))
PY
  echo "$(ls "$1" | wc -l) seed inputs"
}
