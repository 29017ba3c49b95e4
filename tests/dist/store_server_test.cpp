// The rendezvous store listens only on the address it is asked for, as the kernel's own table of
// listening sockets (/proc/net/tcp, tcp6) shows.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "dist/dist_test_util.h"
#include "test_util.h"
#include "trainrt/dist/store_server.h"

namespace trainrt::dist {
namespace {

// The local addresses of the sockets listening on `port`, as the kernel writes them: 127.0.0.1 is
// "0100007F" for an IPv4 socket, "0000000000000000FFFF00000100007F" (::ffff:127.0.0.1) for an IPv6
// one; the wildcard is all zeros.
std::vector<std::string> listening_addresses(int port) {
  std::vector<std::string> found;
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(table);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string slot, local, remote, state;
      fields >> slot >> local >> remote >> state;
      const auto colon = local.rfind(':');
      if (state == "0A" && std::stoi(local.substr(colon + 1), nullptr, 16) == port) {
        found.push_back(local.substr(0, colon));
      }
    }
  }
  return found;
}

TEST(StoreServer, ListensOnlyOnTheAskedAddress) {
  auto store = host_store("127.0.0.1", 0, std::chrono::seconds(10));
  const int port = store->getPort();
  EXPECT_THAT(listening_addresses(port),
              ::testing::ElementsAre(::testing::AnyOf("0100007F", "0000000000000000FFFF00000100007F")));
  // And it serves: a client on that address sees what the host set.
  const auto client = trainrt::testing::loopback_store_client(port, std::chrono::seconds(10));
  store->set("key", std::vector<uint8_t>{'o', 'k'});
  EXPECT_EQ(client->get("key"), (std::vector<uint8_t>{'o', 'k'}));
}

TEST(StoreServer, AnotherBindInTheProcessIsNotRedirected) {
  auto store = host_store("127.0.0.1", 0, std::chrono::seconds(10));
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in any{};
  any.sin_family = AF_INET;
  any.sin_addr.s_addr = htonl(INADDR_ANY);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&any), sizeof any), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t length = sizeof any;
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&any), &length), 0);
  EXPECT_EQ(any.sin_addr.s_addr, htonl(INADDR_ANY));
  ::close(fd);
}

TEST(StoreServer, AnAddressOfAnotherHostIsRefusedByName) {
  // 192.0.2.1 (TEST-NET-1) is never an address of this host.
  EXPECT_THAT(trainrt::testing::error_of([] { host_store("192.0.2.1", 0, std::chrono::seconds(5)); }),
              ::testing::HasSubstr("cannot host the rendezvous store on 192.0.2.1:0"));
  EXPECT_THAT(trainrt::testing::error_of([] { host_store("no-such-host.invalid", 0, std::chrono::seconds(5)); }),
              ::testing::HasSubstr("cannot host the rendezvous store on 'no-such-host.invalid'"));
}

}  // namespace
}  // namespace trainrt::dist
