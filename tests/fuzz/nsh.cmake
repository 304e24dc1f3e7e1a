# fuzz_nsh: the NSH (RFC 8300) codec — decoding what a service hands back
# under each framing, the round trip through the encoder, the in-place
# SI/TTL updates.
fw_add_fuzzer(fuzz_nsh fuzz_nsh.cc)
