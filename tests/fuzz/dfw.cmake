# fuzz_dfw: a structured policy and packets decoded from the input, compiled
# by the policy compiler and decided, each decision compared with a reference
# evaluator (tests/fuzz/fuzz_dfw.cc). It compiles every source of
# libfw/policy and libfw/classify with the fuzzer's instrumentation (globbed:
# the compiler and classifier may gain files) plus their generated protobuf
# code (fw_proto) and libraries, and the RCU wrapper the address-class map
# reclaims trie nodes through, not the rest of libfw.
file(GLOB fw_fuzz_dfw_sources CONFIGURE_DEPENDS
  ${PROJECT_SOURCE_DIR}/libfw/policy/*.cc
  ${PROJECT_SOURCE_DIR}/libfw/classify/*.cc)
list(APPEND fw_fuzz_dfw_sources ${PROJECT_SOURCE_DIR}/libfw/core/rcu.cc)
list(SORT fw_fuzz_dfw_sources)
fw_add_fuzzer(fuzz_dfw fuzz_dfw.cc ${fw_fuzz_dfw_sources} $<TARGET_OBJECTS:fw_proto>)
target_include_directories(fuzz_dfw PRIVATE ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR}/libfw/proto)
target_link_libraries(fuzz_dfw PRIVATE protobuf::libprotobuf fmt::fmt PkgConfig::URCU)
add_dependencies(fuzz_dfw fw_proto)
