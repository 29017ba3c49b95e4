// defines: host_store
//
// The rendezvous store's server (c10d's TCPStore), listening only on the address it is asked for:
// 127.0.0.1 for a single-node job keeps it off every other network. c10d's TCPStore always binds
// the wildcard address ("::" or "0.0.0.0") and has no option to choose; store_server.cpp therefore
// interposes bind(), and only while this thread constructs the server rewrites a wildcard bind to
// the asked address (an IPv4 address in its IPv6-mapped form on c10d's dual-stack socket). Every
// other bind() in the process goes to the C library untouched.
#pragma once

#include <chrono>
#include <string>

#include <torch/csrc/distributed/c10d/TCPStore.hpp>

namespace trainrt::dist {

// Hosts the store on `host` (a numeric address or a name resolving to one of this host's
// addresses) and `port` (0: a free port; TCPStore::getPort() tells which). Throws trainrt::Error
// (kDistributed) naming the address when it cannot listen there.
c10::intrusive_ptr<c10d::TCPStore> host_store(const std::string& host, int port,
                                              std::chrono::milliseconds timeout);

}  // namespace trainrt::dist
