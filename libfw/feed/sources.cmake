# The membership feed: wire format, consumer, stream source.
list(APPEND FW_SOURCES feed/codec.cc feed/consumer.cc feed/stream_source.cc)
