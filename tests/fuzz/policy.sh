# Fuzz target "policy" (fuzz_policy: text, JSON and binary policies through
# decoding and validation; seeds: the sample policies and the binary encoding
# of each text one), sourced by scripts/fuzz. Defines:
#   fuzz_max_len   the longest input libFuzzer generates
#   fuzz_timeout   seconds one input may take before it counts as a hang
#   fuzz_seed DIR  writes the seed corpus into DIR ($root is the checkout)
fuzz_max_len=8192
fuzz_timeout=10

fuzz_seed() {  # fuzz_seed DIR
  echo "== policy: seed corpus from examples/data/policy and tests/data/policy"
  local seeds="$1" f
  shopt -s nullglob
  for f in "$root"/examples/data/policy/*.textpb "$root"/examples/data/policy/*.json \
           "$root"/tests/data/policy/*.textpb "$root"/tests/data/policy/*.json; do
    cp "$f" "$seeds/$(basename "$(dirname "$f")")-$(basename "$f")"
  done
  shopt -u nullglob
  # The binary encoding of every text-format sample that encodes.
  local protoc
  protoc=$(command -v protoc || true)
  if [ -n "$protoc" ]; then
    for f in "$root"/examples/data/policy/*.textpb; do
      "$protoc" --encode=fw.v1.Policy -I"$root/libfw/proto" fw/v1/policy.proto <"$f" \
        >"$seeds/binary-$(basename "$f" .textpb).pb" 2>/dev/null || rm -f "$seeds/binary-$(basename "$f" .textpb).pb"
    done
  fi
  echo "$(ls "$seeds" | wc -l) seed policies"
}
