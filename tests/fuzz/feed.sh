# Fuzz target "feed" (fuzz_feed: length-delimited fw.v1.FeedMessage streams
# through framing, decoding, the consumer and group evaluation), sourced by
# scripts/fuzz. Defines:
#   fuzz_max_len   the longest input libFuzzer generates
#   fuzz_timeout   seconds one input may take before it counts as a hang
#   fuzz_seed DIR  writes the seed corpus into DIR ($root is the checkout)
fuzz_max_len=4096
fuzz_timeout=10

fuzz_seed() {  # fuzz_seed DIR
  echo "== feed: seed corpus from tests/data/feed"
  local seeds="$1" f
  shopt -s nullglob
  # The input's first byte is the read size minus one: each stream is
  # seeded read whole (0xff) and one byte at a time (0x00).
  for f in "$root"/tests/data/feed/*.feed; do
    { printf '\377'; cat "$f"; } >"$seeds/whole-$(basename "$f")"
    { printf '\000'; cat "$f"; } >"$seeds/bytewise-$(basename "$f")"
  done
  shopt -u nullglob
  echo "$(ls "$seeds" | wc -l) seed streams"
}
