#include "trainrt/dist/store_server.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <netdb.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "trainrt/core/error.h"

namespace trainrt::dist {
namespace {

// The address the store being constructed on this thread must listen on (null: none).
struct BindRequest {
  sockaddr_storage address{};
  socklen_t length = 0;
  bool applied = false;
};
thread_local BindRequest* bind_request = nullptr;

bool is_wildcard(const sockaddr* address) {
  if (address->sa_family == AF_INET) {
    return reinterpret_cast<const sockaddr_in*>(address)->sin_addr.s_addr == htonl(INADDR_ANY);
  }
  if (address->sa_family == AF_INET6) {
    const auto& a = reinterpret_cast<const sockaddr_in6*>(address)->sin6_addr;
    return std::memcmp(&a, &in6addr_any, sizeof a) == 0;
  }
  return false;
}

in_port_t port_of(const sockaddr* address) {
  return address->sa_family == AF_INET ? reinterpret_cast<const sockaddr_in*>(address)->sin_port
                                       : reinterpret_cast<const sockaddr_in6*>(address)->sin6_port;
}

void set_port(sockaddr_storage& address, in_port_t port) {
  if (address.ss_family == AF_INET) reinterpret_cast<sockaddr_in&>(address).sin_port = port;
  else reinterpret_cast<sockaddr_in6&>(address).sin6_port = port;
}

BindRequest resolve(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int status = getaddrinfo(host.c_str(), nullptr, &hints, &found);
  if (status != 0) {
    throw Error(Error::Kind::kDistributed,
                fmt::format("cannot host the rendezvous store on '{}' (MASTER_ADDR): {}", host,
                            gai_strerror(status)));
  }
  BindRequest request;
  std::memcpy(&request.address, found->ai_addr, found->ai_addrlen);
  request.length = found->ai_addrlen;
  freeaddrinfo(found);
  return request;
}

}  // namespace

c10::intrusive_ptr<c10d::TCPStore> host_store(const std::string& host, int port,
                                              std::chrono::milliseconds timeout) {
  BindRequest request = resolve(host);
  c10d::TCPStoreOptions options;
  options.port = static_cast<std::uint16_t>(port);
  options.isServer = true;
  options.waitWorkers = false;
  options.timeout = timeout;
  bind_request = &request;
  try {
    auto store = c10::make_intrusive<c10d::TCPStore>(host, options);
    bind_request = nullptr;
    if (!request.applied) {
      // libtrainrt's bind() was not the one c10d called (e.g. the library was dlopen'ed locally).
      std::fprintf(stderr, "trainrt: warning: the rendezvous store listens on every address of this "
                           "host, not only %s\n", host.c_str());
    }
    return store;
  } catch (const std::exception& e) {
    bind_request = nullptr;
    const std::string cause = e.what();
    throw Error(Error::Kind::kDistributed,
                fmt::format("cannot host the rendezvous store on {}:{} (MASTER_ADDR, MASTER_PORT): "
                            "{}; is another job using the port, and is {} an address of this host?",
                            host, port, cause.substr(0, cause.find('\n')), host));
  }
}

}  // namespace trainrt::dist

// Interposes the C library's bind() (libtrainrt comes before libc in the lookup order, so c10d's
// calls land here). A wildcard bind made while host_store() runs on this thread goes to the asked
// address instead.
extern "C" __attribute__((visibility("default"))) int bind(int fd, const sockaddr* address,
                                                            socklen_t length) {
  using BindFunction = int (*)(int, const sockaddr*, socklen_t);
  static const auto real_bind = reinterpret_cast<BindFunction>(dlsym(RTLD_NEXT, "bind"));
  auto* request = trainrt::dist::bind_request;
  if (request == nullptr || address == nullptr || !trainrt::dist::is_wildcard(address)) {
    return real_bind(fd, address, length);
  }
  sockaddr_storage asked = request->address;
  socklen_t asked_length = request->length;
  if (address->sa_family == AF_INET6 && asked.ss_family == AF_INET) {
    // c10d tries IPv6 first: its dual-stack socket takes the IPv4 address in its mapped form
    // (::ffff:a.b.c.d), which serves IPv4 clients of that address alone.
    sockaddr_in6 mapped{};
    mapped.sin6_family = AF_INET6;
    mapped.sin6_addr.s6_addr[10] = 0xff;
    mapped.sin6_addr.s6_addr[11] = 0xff;
    std::memcpy(&mapped.sin6_addr.s6_addr[12], &reinterpret_cast<const sockaddr_in&>(asked).sin_addr, 4);
    std::memcpy(&asked, &mapped, sizeof mapped);
    asked_length = sizeof mapped;
  } else if (address->sa_family != asked.ss_family) {
    errno = EADDRNOTAVAIL;  // an IPv6 address asked of an IPv4 socket: c10d tries the next one
    return -1;
  }
  trainrt::dist::set_port(asked, trainrt::dist::port_of(address));
  request->applied = true;
  return real_bind(fd, reinterpret_cast<const sockaddr*>(&asked), asked_length);
}
