# fuzz_etcd: the etcd feed source's network decoding — HTTP/1.1 responses
# (Content-Length, chunked, close-delimited), the /v3/watch stream's lines,
# the gateway's JSON (protobuf JSON mapping of etcd_gateway.proto) and the
# VM values under the key layout; no sockets are opened.
fw_add_fuzzer(fuzz_etcd fuzz_etcd.cc)
