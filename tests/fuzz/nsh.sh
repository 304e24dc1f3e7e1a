# Fuzz target "nsh" (fuzz_nsh: the NSH codec of fw/nsh.h; the input's first
# byte chooses framing and options, the rest is what a service handed
# back), sourced by scripts/fuzz. Defines:
#   fuzz_max_len   the longest input libFuzzer generates
#   fuzz_timeout   seconds one input may take before it counts as a hang
#   fuzz_seed DIR  writes the seed corpus into DIR ($root is the checkout)
# An NSH is at most 252 bytes; 512 leaves room for an Ethernet header and a
# payload.
fuzz_max_len=512
fuzz_timeout=10

fuzz_seed() {  # fuzz_seed DIR
  echo "== nsh: seed corpus of hand-made headers (tests/service/nsh_test.cc layouts)"
  local seeds="$1"
  # Base header TTL 63, MD type 2, Ethernet; SPI 0x000123, SI 255; every
  # libfw context header (RFC 9263 groups and policy id; libfw class
  # 0xFFF6 tag set, vNIC and flow ids); then 4 bytes of inner frame.
  local full='\x0f\xce\x02\x03\x00\x01\x23\xff\x00\x00\x05\x08\x00\x00\x00\x0a\x00\x00\x00\x0b\x00\x00\x06\x04\x00\x00\x03\xe9\xff\xf6\x01\x04\x00\x00\x00\x07\xff\xf6\x02\x04\x00\x00\x00\x2a\xff\xf6\x03\x08\x01\x02\x03\x04\x05\x06\x07\x08'
  local inner='\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00'
  local md1='\x2a\x86\x01\x01\xab\xcd\xef\x03\x11\x11\x11\x11\x22\x22\x22\x22\x33\x33\x33\x33\x44\x44\x44\x44'
  local bare='\x0f\xc2\x02\x03\x00\x00\x07\xc8'
  local unknown='\x0f\xc9\x02\x03\x00\x00\x10\x01\x00\x00\x01\x04\xde\xad\xbe\xef\x12\x34\x56\x85\x01\x02\x03\x04\x05\x00\x00\x00\xff\xf6\x02\x04\x00\x00\x00\x09'
  local eth='\x02\x00\x00\x00\x00\x99\x02\x00\x00\x00\x00\xaa\x89\x4f'
  # First byte: bits 0-1 framing (1 NSH, 2 Ethernet + NSH), bit 2 accept
  # experimental next protocols, bit 3 libfw class 0x0200.
  printf "\x01$full$inner" >"$seeds/md2-full"
  printf "\x02$eth$full$inner" >"$seeds/md2-full-ethernet"
  printf "\x01$md1" >"$seeds/md1"
  printf "\x02$eth$bare$inner" >"$seeds/md2-bare-ethernet"
  printf "\x01$unknown\xab" >"$seeds/md2-unknown-headers"
  printf "\x05\x0f\xc2\x02\xfe\x00\x00\x01\xff" >"$seeds/experimental-next-protocol"
  printf "\x09\x0f\xc4\x02\x03\x00\x00\x01\xff\x02\x00\x02\x04\x00\x00\x00\x05" >"$seeds/libfw-class-0200"
  printf "\x00$inner" >"$seeds/no-framing"
  echo "$(ls "$seeds" | wc -l) seed inputs"
}
