# install-conf.cmake: installs the example configuration under /etc/dr-agent (prefix /usr) or <prefix>/etc/dr-agent.
# Runs at install time, so the prefix is the one given to `cmake --install --prefix` (or CPack's), and file(INSTALL)
# puts $DESTDIR in front.
set(_dr_etc "${CMAKE_INSTALL_PREFIX}/etc/dr-agent")
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(_dr_etc "/etc/dr-agent")
endif()
file(INSTALL DESTINATION "${_dr_etc}" TYPE FILE RENAME dr-agent.conf.example FILES "${DR_CONF_SOURCE}")
