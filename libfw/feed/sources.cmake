# The membership feed: wire format, consumer, stream source.
list(APPEND FW_SOURCES feed/codec.cc feed/consumer.cc feed/stream_source.cc)
# The etcd v3 source: its HTTP/1.1 client, the JSON gateway, the source.
list(APPEND FW_SOURCES feed/etcd_http.cc feed/etcd_gateway.cc feed/etcd_source.cc)
