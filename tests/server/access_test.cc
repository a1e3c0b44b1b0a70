// server/access.h: address ranges, who may connect and who may stop the
// server, for peers that cannot be produced on a test machine (remote
// addresses, IPv4-mapped IPv6).  The end-to-end checks with real sockets
// are in test_access.py.
#include "server/access.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <cstring>

#include "server/protocol.h"

namespace durus::server {
namespace {

PeerInfo Peer(const char* text, bool same_host = false) {
  PeerInfo p;
  if (inet_pton(AF_INET, text, p.addr) == 1) {
    p.family = AF_INET;
  } else {
    EXPECT_EQ(inet_pton(AF_INET6, text, p.addr), 1) << text;
    p.family = AF_INET6;
  }
  p.same_host = same_host;
  p.name = text;
  return p;
}

AccessPolicy Allow(const char* ranges) {
  AccessPolicy policy;
  EXPECT_TRUE(ParseCidrList(ranges, &policy.allow_from).ok()) << ranges;
  return policy;
}

TEST(Cidr, ParsesAndPrints) {
  Cidr c;
  ASSERT_TRUE(ParseCidr("10.0.0.0/8", &c).ok());
  EXPECT_EQ(c.ToString(), "10.0.0.0/8");
  ASSERT_TRUE(ParseCidr(" 192.168.1.7 ", &c).ok());
  EXPECT_EQ(c.ToString(), "192.168.1.7/32");
  ASSERT_TRUE(ParseCidr("fd00::/8", &c).ok());
  EXPECT_EQ(c.ToString(), "fd00::/8");
  ASSERT_TRUE(ParseCidr("::1", &c).ok());
  EXPECT_EQ(c.ToString(), "::1/128");
  ASSERT_TRUE(ParseCidr("0.0.0.0/0", &c).ok());
  // An IPv4-mapped range is the IPv4 range.
  ASSERT_TRUE(ParseCidr("::ffff:10.0.0.0/104", &c).ok());
  EXPECT_EQ(c.ToString(), "10.0.0.0/8");
}

TEST(Cidr, RejectsBadRanges) {
  Cidr c;
  Status st = ParseCidr("10.1.2.3/8", &c);
  EXPECT_TRUE(st.IsInvalidArgument());
  EXPECT_NE(st.message().find("did you mean 10.0.0.0/8?"), std::string::npos) << st.ToString();
  EXPECT_FALSE(ParseCidr("10.0.0.0/33", &c).ok());
  EXPECT_FALSE(ParseCidr("10.0.0.0/", &c).ok());
  EXPECT_FALSE(ParseCidr("10.0.0.0/-1", &c).ok());
  EXPECT_FALSE(ParseCidr("fd00::/129", &c).ok());
  EXPECT_FALSE(ParseCidr("fd00::1/8", &c).ok());
  EXPECT_FALSE(ParseCidr("localhost", &c).ok());
  std::vector<Cidr> list;
  EXPECT_FALSE(ParseCidrList("10.0.0.0/8,,fd00::/8", &list).ok());
  EXPECT_FALSE(ParseCidrList("", &list).ok());
}

TEST(Cidr, Contains) {
  AccessPolicy policy = Allow("10.0.0.0/8, 192.168.4.0/22,fd00::/8,2001:db8::5");
  EXPECT_TRUE(MayConnect(policy, Peer("10.200.3.4")));
  EXPECT_FALSE(MayConnect(policy, Peer("11.0.0.1")));
  EXPECT_TRUE(MayConnect(policy, Peer("192.168.7.255")));
  EXPECT_FALSE(MayConnect(policy, Peer("192.168.8.0")));
  EXPECT_FALSE(MayConnect(policy, Peer("192.168.3.255")));
  EXPECT_TRUE(MayConnect(policy, Peer("fdab::1")));
  EXPECT_FALSE(MayConnect(policy, Peer("fe80::1")));
  EXPECT_TRUE(MayConnect(policy, Peer("2001:db8::5")));
  EXPECT_FALSE(MayConnect(policy, Peer("2001:db8::6")));
  EXPECT_FALSE(MayConnect(policy, Peer("127.0.0.1", /*same_host=*/true)));
  EXPECT_FALSE(MayConnect(policy, Peer("::1", /*same_host=*/true)));
  // An IPv4 range never matches an IPv6 peer, nor the reverse.
  EXPECT_FALSE(MayConnect(Allow("0.0.0.0/0"), Peer("fd00::1")));
  EXPECT_FALSE(MayConnect(Allow("::/0"), Peer("10.0.0.1")));
  // No ranges: everyone; unix peers are never checked against ranges.
  EXPECT_TRUE(MayConnect(AccessPolicy(), Peer("203.0.113.9")));
  PeerInfo unix_peer;
  unix_peer.family = AF_UNIX;
  unix_peer.uid = 1000;
  EXPECT_TRUE(MayConnect(policy, unix_peer));
}

TEST(Access, DescribesMappedIpv4AsIpv4) {
  sockaddr_storage ss{};
  auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
  s6->sin6_family = AF_INET6;
  s6->sin6_port = htons(4000);
  ASSERT_EQ(inet_pton(AF_INET6, "::ffff:10.1.2.3", &s6->sin6_addr), 1);
  PeerInfo p = DescribePeer(-1, ss, sizeof(*s6), "[::]:2972");
  EXPECT_EQ(p.family, AF_INET);
  EXPECT_EQ(p.name, "10.1.2.3:4000");
  EXPECT_FALSE(p.same_host);  // not loopback; getsockname(-1) fails
  EXPECT_TRUE(MayConnect(Allow("10.0.0.0/8"), p));

  ASSERT_EQ(inet_pton(AF_INET6, "::ffff:127.0.0.1", &s6->sin6_addr), 1);
  p = DescribePeer(-1, ss, sizeof(*s6), "[::]:2972");
  EXPECT_TRUE(p.same_host);
  EXPECT_EQ(p.name, "127.0.0.1:4000");
}

TEST(Access, StopPolicy) {
  AccessPolicy local;
  const int64_t me = 1000;
  EXPECT_TRUE(MayStop(local, Peer("127.0.0.1", true), me));
  EXPECT_TRUE(MayStop(local, Peer("::1", true), me));
  EXPECT_FALSE(MayStop(local, Peer("10.1.2.3"), me));
  EXPECT_FALSE(MayStop(local, Peer("fd00::7"), me));
  PeerInfo unix_peer;
  unix_peer.family = AF_UNIX;
  unix_peer.uid = me;
  EXPECT_TRUE(MayStop(local, unix_peer, me));
  unix_peer.uid = 0;
  EXPECT_TRUE(MayStop(local, unix_peer, me));
  unix_peer.uid = 65534;
  EXPECT_FALSE(MayStop(local, unix_peer, me));
  unix_peer.uid = -1;  // credentials unknown
  EXPECT_FALSE(MayStop(local, unix_peer, me));

  AccessPolicy any;
  ASSERT_TRUE(ParseStopPolicy("any", &any.allow_stop).ok());
  EXPECT_TRUE(MayStop(any, Peer("10.1.2.3"), me));
  AccessPolicy none;
  ASSERT_TRUE(ParseStopPolicy("none", &none.allow_stop).ok());
  EXPECT_FALSE(MayStop(none, Peer("127.0.0.1", true), me));
  unix_peer.uid = me;
  EXPECT_FALSE(MayStop(none, unix_peer, me));
  StopPolicy p;
  EXPECT_FALSE(ParseStopPolicy("LOCAL", &p).ok());
}

TEST(Access, ReadOnlyRefusesWrites) {
  for (char cmd : {kCmdCommit, kCmdNewOid, kCmdNewOids, kCmdPack}) {
    EXPECT_NE(RefusedWhenReadOnly(static_cast<uint8_t>(cmd)), nullptr) << cmd;
  }
  for (char cmd : {kCmdLoad, kCmdBulkLoad, kCmdSync, kCmdVersion, kCmdQuit, kCmdHangUp}) {
    EXPECT_EQ(RefusedWhenReadOnly(static_cast<uint8_t>(cmd)), nullptr) << cmd;
  }
}

}  // namespace
}  // namespace durus::server
