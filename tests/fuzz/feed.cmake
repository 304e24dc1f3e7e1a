# fuzz_feed: the membership feed's framing, decoding and consumer over an
# inventory with group evaluation. Compiles the feed, groups and policy
# sources with the fuzzer's instrumentation and links their generated
# protobuf code (fw_proto); not the datapath (the DFW sink is left out).
fw_add_fuzzer(fuzz_feed fuzz_feed.cc
  ${PROJECT_SOURCE_DIR}/libfw/feed/codec.cc
  ${PROJECT_SOURCE_DIR}/libfw/feed/consumer.cc
  ${PROJECT_SOURCE_DIR}/libfw/groups/criteria.cc
  ${PROJECT_SOURCE_DIR}/libfw/groups/inventory.cc
  ${PROJECT_SOURCE_DIR}/libfw/policy/model.cc
  ${PROJECT_SOURCE_DIR}/libfw/policy/decode.cc
  ${PROJECT_SOURCE_DIR}/libfw/policy/validate.cc
  ${PROJECT_SOURCE_DIR}/libfw/policy/json_check.cc
  ${PROJECT_SOURCE_DIR}/libfw/policy/load.cc
  $<TARGET_OBJECTS:fw_proto>)
target_include_directories(fuzz_feed PRIVATE ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR}/libfw/proto)
target_link_libraries(fuzz_feed PRIVATE protobuf::libprotobuf fmt::fmt)
add_dependencies(fuzz_feed fw_proto)
