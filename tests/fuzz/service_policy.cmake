# fuzz_service_policy: redirect policies (fw.v1.RedirectPolicy) in text,
# JSON and binary through decoding, validation and a write-and-read-back of
# what is accepted. Compiles the redirect-policy loader, the redirect table's
# match policy and the policy sources it reuses with the fuzzer's
# instrumentation, and links their generated protobuf code (fw_proto); not
# the rest of libfw (the slot itself is left out).
fw_add_fuzzer(fuzz_service_policy fuzz_service_policy.cc
  ${PROJECT_SOURCE_DIR}/libfw/service/load.cc
  ${PROJECT_SOURCE_DIR}/libfw/service/match_policy.cc
  ${PROJECT_SOURCE_DIR}/libfw/policy/model.cc
  ${PROJECT_SOURCE_DIR}/libfw/policy/decode.cc
  ${PROJECT_SOURCE_DIR}/libfw/policy/validate.cc
  ${PROJECT_SOURCE_DIR}/libfw/policy/json_check.cc
  ${PROJECT_SOURCE_DIR}/libfw/policy/load.cc
  $<TARGET_OBJECTS:fw_proto>)
target_include_directories(fuzz_service_policy PRIVATE ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR}/libfw/proto)
target_link_libraries(fuzz_service_policy PRIVATE protobuf::libprotobuf fmt::fmt)
add_dependencies(fuzz_service_policy fw_proto)
