// The ingest hot path must not allocate once its scratch is warm: count every operator new.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "doppel/model/payload.hpp"
#include "test_models.hpp"

namespace {
std::atomic<long> g_allocations{0};
}

void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}

namespace doppel::model {
namespace {

TEST(PayloadAllocations, HappyPathAllocatesNothing) {
  LoadResult r = testing::load(
      {{"m.json", R"({"@context": "dtmi:dtdl:context;3", "@id": "dtmi:ex:M;1", "@type": "Interface",
    "contents": [{"@type": "Telemetry", "name": "a", "schema": "double"}, {"@type": "Telemetry", "name": "b", "schema": "integer"},
                 {"@type": "Telemetry", "name": "c", "schema": "string"}, {"@type": "Telemetry", "name": "d", "schema": "boolean"},
                 {"@type": "Telemetry", "name": "e", "schema": {"@type": "Array", "elementSchema": "double"}}]})"}});
  ASSERT_TRUE(r.ok()) << testing::errors_of(r);
  PayloadValidator v(*r.registry->find("dtmi:ex:M;1"));
  PayloadScratch scratch;
  const std::string payload = R"({"a": 1.5, "b": 2, "c": "three", "d": true, "e": [1, 2, 3]})";
  ASSERT_TRUE(v.validate(payload, PayloadKind::kTelemetry, scratch).ok);  // warm-up
  long before = g_allocations.load();
  for (int i = 0; i < 1000; ++i)
    ASSERT_TRUE(v.validate(payload, PayloadKind::kTelemetry, scratch).ok);
  EXPECT_EQ(g_allocations.load() - before, 0);
}

}  // namespace
}  // namespace doppel::model
