# fuzz_etcd: the etcd feed source's network decoding — HTTP/1.1 responses
# (Content-Length, chunked, close-delimited), the /v3/watch stream's lines,
# the gateway's JSON (protobuf JSON mapping of etcd_gateway.proto) and the
# VM values under the key layout. Compiles the etcd client and the feed
# codec with the fuzzer's instrumentation and links their generated
# protobuf code (fw_proto); no sockets are opened.
fw_add_fuzzer(fuzz_etcd fuzz_etcd.cc
  ${PROJECT_SOURCE_DIR}/libfw/feed/etcd_http.cc
  ${PROJECT_SOURCE_DIR}/libfw/feed/etcd_gateway.cc
  ${PROJECT_SOURCE_DIR}/libfw/feed/codec.cc
  $<TARGET_OBJECTS:fw_proto>)
target_include_directories(fuzz_etcd PRIVATE ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR}/libfw/proto)
target_link_libraries(fuzz_etcd PRIVATE protobuf::libprotobuf fmt::fmt)
add_dependencies(fuzz_etcd fw_proto)
