# Service insertion: redirect rules, service profiles and chains, health and
# failure policy, NSH (RFC 8300) encapsulation.
file(GLOB FW_SERVICE_SOURCES CONFIGURE_DEPENDS RELATIVE ${CMAKE_CURRENT_LIST_DIR}/.. ${CMAKE_CURRENT_LIST_DIR}/*.cc)
list(SORT FW_SERVICE_SOURCES)
list(APPEND FW_SOURCES ${FW_SERVICE_SOURCES})
