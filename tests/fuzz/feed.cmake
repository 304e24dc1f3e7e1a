# fuzz_feed: the membership feed's framing, decoding and consumer over an
# inventory with group evaluation; not the datapath (the DFW sink is left
# out).
fw_add_fuzzer(fuzz_feed fuzz_feed.cc)
