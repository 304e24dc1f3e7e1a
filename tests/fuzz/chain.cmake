# fuzz_chain: sequences of frames per input through fw::Engine with a
# stateful DFW in slot 2 (two policies, generations, revalidation, reject
# answers, two vNICs); the table is cleared between inputs.
fw_add_fuzzer(fuzz_chain fuzz_chain.cc)
