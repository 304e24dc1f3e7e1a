# fuzz_conntrack: sequences of packets per input through the connection
# table (every L4 tracker, fragments, ICMP errors, limits, expiry) and the
# reject builder; the table is cleared between inputs. Compiles the
# conntrack sources with the fuzzer's instrumentation beside the parser.
file(GLOB fw_fuzz_conntrack_sources CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/libfw/conntrack/*.cc)
fw_add_fuzzer(fuzz_conntrack fuzz_conntrack.cc ${fw_fuzz_conntrack_sources})
target_include_directories(fuzz_conntrack PRIVATE ${PROJECT_SOURCE_DIR})
target_link_libraries(fuzz_conntrack PRIVATE Boost::headers)
