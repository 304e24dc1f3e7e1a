# fuzz_conntrack: sequences of packets per input through the connection
# table (every L4 tracker, fragments, ICMP errors, limits, expiry) and the
# reject builder; the table is cleared between inputs.
fw_add_fuzzer(fuzz_conntrack fuzz_conntrack.cc)
