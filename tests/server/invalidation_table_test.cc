// Unit tests of the InvalidationTable (server/invalidation_table.h): who is
// told of a commit, the unused-oid check, the optimistic commit's race,
// and loads waiting for commits in flight.  No sockets, no storage.
#include "server/invalidation_table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <initializer_list>
#include <thread>

namespace durus::server {
namespace {

using std::chrono::milliseconds;
using Table = InvalidationTable;

std::vector<Oid> Sorted(std::vector<Oid> v) {
  std::sort(v.begin(), v.end(), [](Oid a, Oid b) { return a.value() < b.value(); });
  return v;
}

auto Nothing() {
  return [] { return std::vector<Oid>(); };
}

// A commit of `oids` by m that is published and returns at once.
Table::Publication Commit(Table* t, Table::Member* m, const std::vector<Oid>& oids,
                          bool optimistic = false) {
  Oid stolen;
  const Table::Publication p = t->Publish(m, oids, optimistic, &stolen);
  if (p == Table::Publication::kPublished) t->Settled(oids);
  return p;
}

void LeaveAll(Table* t, std::initializer_list<Table::Member*> members) {
  for (Table::Member* m : members) t->Leave(m);
  EXPECT_EQ(t->members(), 0u);
}

TEST(InvalidationTableTest, PublishesToEveryOtherMemberUntilTheirDrain) {
  Table t;
  Table::Member* a = t.Join();
  Table::Member* b = t.Join();
  Table::Member* c = t.Join();
  EXPECT_EQ(t.members(), 3u);
  ASSERT_EQ(Commit(&t, a, {Oid(1), Oid(2)}), Table::Publication::kPublished);
  EXPECT_FALSE(t.IsInvalid(a, Oid(1)));  // not to the committer itself
  EXPECT_TRUE(t.IsInvalid(b, Oid(1)));
  std::vector<char> marks;
  t.MarkInvalid(c, {Oid(2), Oid(3)}, &marks);
  EXPECT_EQ(marks, (std::vector<char>{1, 0}));
  EXPECT_EQ(Sorted(t.Drain(b, Nothing())), (std::vector<Oid>{Oid(1), Oid(2)}));
  EXPECT_TRUE(t.Drain(b, Nothing()).empty());  // drained
  EXPECT_FALSE(t.IsInvalid(b, Oid(1)));
  // Oids the collector removed reach everyone, the drainer included.
  auto collected = [] { return std::vector<Oid>{Oid(9)}; };
  EXPECT_EQ(t.Drain(a, collected), (std::vector<Oid>{Oid(9)}));
  EXPECT_EQ(Sorted(t.Drain(c, Nothing())), (std::vector<Oid>{Oid(1), Oid(2), Oid(9)}));
  EXPECT_EQ(t.Drain(b, Nothing()), (std::vector<Oid>{Oid(9)}));
  t.Leave(c);
  EXPECT_EQ(t.members(), 2u);
  LeaveAll(&t, {a, b});
}

TEST(InvalidationTableTest, RefusesStoringAnotherMembersUnusedOid) {
  Table t;
  Table::Member* a = t.Join();
  Table::Member* b = t.Join();
  Table::Member* watcher = t.Join();
  Table::Unused held = t.HandOut(a, {Oid(5), Oid(6), Oid(8)});
  EXPECT_EQ(held.oids, 3u);
  EXPECT_EQ(held.runs, 2u);
  Oid stolen;
  EXPECT_EQ(t.Publish(b, {Oid(1), Oid(6)}, false, &stolen), Table::Publication::kStolen);
  EXPECT_EQ(stolen, Oid(6));
  EXPECT_TRUE(t.Drain(watcher, Nothing()).empty());  // nothing published
  EXPECT_TRUE(t.nothing_in_flight());
  // Its own unused oids a member may store; once stored they are free.
  ASSERT_EQ(Commit(&t, a, {Oid(6)}), Table::Publication::kPublished);
  t.Stored(a, {Oid(6)});
  ASSERT_EQ(Commit(&t, b, {Oid(6)}), Table::Publication::kPublished);
  EXPECT_EQ(t.HandOut(a, {}).oids, 2u);
  LeaveAll(&t, {a, b, watcher});
}

TEST(InvalidationTableTest, OptimisticCommitIsRefusedIfAnythingReachedItsClient) {
  Table t;
  Table::Member* slow = t.Join();
  Table::Member* other = t.Join();
  // Nothing published to it since its list: it goes ahead.
  ASSERT_EQ(Commit(&t, slow, {Oid(1)}, /*optimistic=*/true), Table::Publication::kPublished);
  t.Drain(other, Nothing());
  ASSERT_EQ(Commit(&t, other, {Oid(2)}), Table::Publication::kPublished);
  // Now something did: refused, and nothing of it published.
  EXPECT_EQ(Commit(&t, slow, {Oid(3)}, true), Table::Publication::kRaced);
  EXPECT_TRUE(t.Drain(other, Nothing()).empty());
  // Not optimistic: the client checked its list itself.
  EXPECT_EQ(Commit(&t, slow, {Oid(3)}), Table::Publication::kPublished);
  LeaveAll(&t, {slow, other});
}

TEST(InvalidationTableTest, LoadWaitsUntilTheCommitInFlightReturns) {
  Table t;
  Table::Member* reader = t.Join();
  Table::Member* writer = t.Join();
  int before = 0;
  auto count = [&] { ++before; };
  const Oid x(7), y(8);
  // Nothing in flight: no wait.
  EXPECT_EQ(t.WaitForInflight(reader, &x, 1, milliseconds(10), count), Table::Wait::kClear);
  Oid stolen;
  ASSERT_EQ(t.Publish(writer, {x}, false, &stolen), Table::Publication::kPublished);
  // Not drained since: x is invalid for the reader, no wait ('I').
  EXPECT_EQ(t.WaitForInflight(reader, &x, 1, milliseconds(10), count), Table::Wait::kInvalid);
  // Synced after the publication: the commit is in its snapshot.
  EXPECT_EQ(t.Drain(reader, Nothing()), (std::vector<Oid>{x}));
  EXPECT_EQ(t.WaitForInflight(reader, &y, 1, milliseconds(10), count), Table::Wait::kClear);
  EXPECT_EQ(before, 0);
  // The oid in flight: waits, and gives up at the timeout.
  EXPECT_EQ(t.WaitForInflight(reader, &x, 1, milliseconds(20), count), Table::Wait::kTimedOut);
  EXPECT_EQ(before, 1);
  // A client connecting now counts as a sync: it waits too.
  Table::Member* newcomer = t.Join();
  EXPECT_EQ(t.WaitForInflight(newcomer, &x, 1, milliseconds(20), count), Table::Wait::kTimedOut);
  std::thread returns([&] {
    std::this_thread::sleep_for(milliseconds(30));
    t.Settled({x});
  });
  EXPECT_EQ(t.WaitForInflight(reader, &x, 1, std::chrono::seconds(30), count), Table::Wait::kClear);
  returns.join();
  EXPECT_TRUE(t.nothing_in_flight());
  // Published to the waiter meanwhile (a second commit on x): it stops
  // waiting and answers 'I'.
  ASSERT_EQ(t.Publish(writer, {x}, false, &stolen), Table::Publication::kPublished);
  t.Drain(reader, Nothing());
  std::thread second([&] {
    std::this_thread::sleep_for(milliseconds(30));
    Oid s;
    EXPECT_EQ(t.Publish(writer, {x}, false, &s), Table::Publication::kPublished);
  });
  EXPECT_EQ(t.WaitForInflight(reader, &x, 1, std::chrono::seconds(30), count),
            Table::Wait::kInvalid);
  second.join();
  EXPECT_EQ(t.waits(), 4u);
  t.Settled({x});
  t.Settled({x});
  EXPECT_TRUE(t.nothing_in_flight());
  LeaveAll(&t, {reader, writer, newcomer});
}

}  // namespace
}  // namespace durus::server
