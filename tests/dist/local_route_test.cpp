// Where this host's route to another leads: the address Gloo binds and the interface NCCL is told.
#include <gtest/gtest.h>

#include "trainrt/dist/local_route.h"

namespace trainrt::dist {
namespace {

TEST(LocalRoute, LoopbackStaysOnLoopback) {
  EXPECT_TRUE(is_loopback_host("localhost"));
  EXPECT_TRUE(is_loopback_host("127.0.0.2"));
  EXPECT_FALSE(is_loopback_host("10.1.2.3"));
  EXPECT_EQ(local_address_toward("localhost", 29500), "127.0.0.1");
  EXPECT_EQ(interface_with_address("127.0.0.1"), "lo");
}

TEST(LocalRoute, AnUnknownHostOrAddressGivesNothing) {
  EXPECT_EQ(local_address_toward("no-such-host.invalid", 29500), "");
  EXPECT_EQ(interface_with_address("192.0.2.77"), "");  // TEST-NET-1: no interface holds it
  EXPECT_EQ(interface_with_address("not an address"), "");
}

TEST(LocalRoute, AnotherHostIsReachedFromAnInterfaceThatHoldsTheSourceAddress) {
  const std::string address = local_address_toward("192.0.2.1", 29500);  // via the default route
  if (address.empty()) GTEST_SKIP() << "no route off this host";
  EXPECT_NE(interface_with_address(address), "");
}

}  // namespace
}  // namespace trainrt::dist
