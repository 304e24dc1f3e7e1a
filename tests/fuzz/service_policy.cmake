# fuzz_service_policy: redirect policies (fw.v1.RedirectPolicy) in text,
# JSON and binary through decoding, validation and a write-and-read-back of
# what is accepted; the slot itself is left out.
fw_add_fuzzer(fuzz_service_policy fuzz_service_policy.cc)
