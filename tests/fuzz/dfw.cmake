# fuzz_dfw: a structured policy and packets decoded from the input, compiled
# by the policy compiler and decided, each decision compared with a reference
# evaluator (tests/fuzz/fuzz_dfw.cc).
fw_add_fuzzer(fuzz_dfw fuzz_dfw.cc)
