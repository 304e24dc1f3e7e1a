# Inventory, criteria and incremental group evaluation; the DFW sink.
list(APPEND FW_SOURCES groups/criteria.cc groups/inventory.cc groups/dfw_sink.cc)
