# fuzz_nsh: the NSH (RFC 8300) codec — decoding what a service hands back
# under each framing, the round trip through the encoder, the in-place
# SI/TTL updates. Compiles libfw/service/nsh.cc with the fuzzer's
# instrumentation beside the core sources; nothing else of libfw.
fw_add_fuzzer(fuzz_nsh fuzz_nsh.cc ${PROJECT_SOURCE_DIR}/libfw/service/nsh.cc)
