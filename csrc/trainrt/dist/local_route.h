// defines: is_loopback_host, local_address_toward, interface_with_address
//
// Which of this host's addresses, and which network interface, lead to another host: the address
// Gloo binds (dist/connect.cpp) and the interface NCCL is told to use (NCCL_SOCKET_IFNAME, which
// `trainrt launch` sets for its workers), so that both backends listen where the store's host
// can reach them, and a job on loopback stays on loopback.
#pragma once

#include <string>

namespace trainrt::dist {

// "localhost", 127.x.y.z or ::1.
bool is_loopback_host(const std::string& host);

// This host's IPv4 address on the route to `host`:`port` ("127.0.0.1" for a loopback host), found
// with a connected UDP socket, which sends nothing but learns its source address; "" when `host`
// does not resolve or no route leads there.
std::string local_address_toward(const std::string& host, int port);

// The name of the interface that holds IPv4 `address` ("lo" for 127.0.0.1); "" if none does.
std::string interface_with_address(const std::string& address);

}  // namespace trainrt::dist
