# fuzz_packet also runs switch security's DHCPv6 reader
# (libfw/chain/switch_security_dhcpv6.cc, standard library only) on every
# UDP payload to or from ports 546/547 and on the raw input, as slot 1 reads
# DHCPv6 messages from the parsed view (tests/fuzz/fuzz_packet.cc).
target_sources(fuzz_packet PRIVATE ${PROJECT_SOURCE_DIR}/libfw/chain/switch_security_dhcpv6.cc)
target_include_directories(fuzz_packet PRIVATE ${PROJECT_SOURCE_DIR})
