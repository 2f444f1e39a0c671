// Generators: deterministic per seed, drift reaches its threshold on time, sine keeps its
// period, random walks stay in bounds, specs with mistakes are refused with a reason.
#include "src/generator.hpp"

#include <gtest/gtest.h>

#include <cmath>

namespace doppel::sim {
namespace {

GeneratorSpec spec(const std::string& text) {
  auto r = parse_generator_spec(text);
  if (auto* e = std::get_if<std::string>(&r)) ADD_FAILURE() << text << ": " << *e;
  return std::get<GeneratorSpec>(r);
}

std::string error_of(const std::string& text) {
  auto r = parse_generator_spec(text);
  auto* e = std::get_if<std::string>(&r);
  return e ? *e : "(accepted)";
}

std::vector<double> series(const std::string& text, std::uint64_t seed, int n, double dt = 1) {
  auto g = make_generator(spec(text), seed);
  std::vector<double> out;
  for (int i = 0; i < n; ++i)
    out.push_back(g->next(i * dt).get<double>());
  return out;
}

TEST(Generator, SameSeedSameValuesOtherSeedOtherValues) {
  for (const char* text : {"walk:50,1,0,100", "drift:60,5,0.5,90", "sine:10,2,60"}) {
    EXPECT_EQ(series(text, 42, 200), series(text, 42, 200)) << text;
    EXPECT_NE(series(text, 42, 200), series(text, 43, 200)) << text;
  }
}

TEST(Generator, DerivedSeedsAreStableAndDistinct) {
  EXPECT_EQ(derive_seed(1, "motor-1", "temperature"), derive_seed(1, "motor-1", "temperature"));
  EXPECT_NE(derive_seed(1, "motor-1", "temperature"), derive_seed(1, "motor-2", "temperature"));
  EXPECT_NE(derive_seed(1, "motor-1", "temperature"), derive_seed(1, "motor-1", "current"));
  EXPECT_NE(derive_seed(1, "motor-1", "temperature"), derive_seed(2, "motor-1", "temperature"));
}

TEST(Generator, DriftReachesFailureThresholdAtTheExpectedTime) {
  // 60 -> 90 at 5 per hour: 6 h.
  const auto d = std::get<DriftSpec>(spec("drift:60,5,0,90"));
  ASSERT_TRUE(drift_failure_time_s(d));
  EXPECT_DOUBLE_EQ(*drift_failure_time_s(d), 6 * 3600.0);
  auto g = make_generator(d, 1);
  EXPECT_DOUBLE_EQ(g->next(0).get<double>(), 60);
  EXPECT_DOUBLE_EQ(g->next(3 * 3600).get<double>(), 75);
  EXPECT_LT(g->next(6 * 3600 - 60).get<double>(), 90);
  EXPECT_DOUBLE_EQ(g->next(6 * 3600).get<double>(), 90);
  EXPECT_DOUBLE_EQ(g->next(10 * 3600).get<double>(), 90);  // stays at the threshold
}

TEST(Generator, DriftWithNoiseCrossesNearTheExpectedTime) {
  auto g = make_generator(spec("drift:60,5,0.5,90"), 7);
  double first_cross = -1;
  for (int minute = 0; minute <= 8 * 60; ++minute) {
    if (g->next(minute * 60.0).get<double>() >= 89) {
      first_cross = minute / 60.0;
      break;
    }
  }
  // 89 is reached at 5.8 h without noise; noise of 0.5 (2 sigma = 1) moves it by ~12 min.
  EXPECT_GT(first_cross, 5.5);
  EXPECT_LT(first_cross, 6.0);
}

TEST(Generator, FallingDriftStopsAtItsThreshold) {
  auto d = std::get<DriftSpec>(spec("drift:100,-10,0,50"));
  EXPECT_DOUBLE_EQ(*drift_failure_time_s(d), 5 * 3600.0);
  auto g = make_generator(d, 1);
  EXPECT_DOUBLE_EQ(g->next(7 * 3600).get<double>(), 50);
  EXPECT_FALSE(drift_failure_time_s(std::get<DriftSpec>(spec("drift:100,10,0,50"))));
}

TEST(Generator, SineRepeatsWithItsPeriodAndSpansTheAmplitude) {
  auto g = make_generator(spec("sine:20,5,2m"), 3);
  double lo = 1e9, hi = -1e9;
  std::vector<double> first;
  for (int s = 0; s < 120; ++s) {
    const double v = g->next(s).get<double>();
    first.push_back(v);
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  for (int s = 0; s < 120; ++s)
    EXPECT_NEAR(g->next(120 + s).get<double>(), first[s], 0.0011);
  EXPECT_NEAR(hi, 25, 0.05);
  EXPECT_NEAR(lo, 15, 0.05);
}

TEST(Generator, WalkStaysInBoundsAndMoves) {
  auto g = make_generator(spec("walk:50,3,40,60"), 11);
  double lo = 1e9, hi = -1e9;
  for (int i = 0; i < 100000; ++i) {
    const double v = g->next(i).get<double>();
    ASSERT_GE(v, 40);
    ASSERT_LE(v, 60);
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  EXPECT_LT(lo, 41);  // it explores the whole range
  EXPECT_GT(hi, 59);
}

TEST(Generator, IntegersAreRounded) {
  auto g = make_generator(spec("walk:10,0.7"), 5, NumberKind::kInteger);
  for (int i = 0; i < 100; ++i)
    EXPECT_TRUE(g->next(i).is_number_integer());
}

TEST(Generator, ConstantTakesJsonOrText) {
  EXPECT_EQ(make_generator(spec("constant:42.5"), 1)->next(0), 42.5);
  EXPECT_EQ(make_generator(spec("constant:true"), 1)->next(0), true);
  EXPECT_EQ(make_generator(spec("constant:running"), 1)->next(0), "running");
  EXPECT_EQ(make_generator(spec("constant:{\"a\":1}"), 1)->next(0)["a"], 1);
}

TEST(Generator, MistakesAreNamed) {
  EXPECT_EQ(error_of("sine:1,2"), "sine takes mean,amplitude,period (got 2 values)");
  EXPECT_EQ(error_of("sine:1,2,0"), "sine: the period must be positive");
  EXPECT_EQ(error_of("sine:1,2,soon"), "sine: value 3 ('soon') is not a duration");
  EXPECT_EQ(error_of("walk:1,x"), "walk: value 2 ('x') is not a number");
  EXPECT_EQ(error_of("walk:1,2,3"), "walk takes start,step[,min,max] (got 3 values)");
  EXPECT_EQ(error_of("walk:0,1,10,20"), "walk: start is outside [min, max]");
  EXPECT_EQ(error_of("drift:1,2"),
            "drift takes start,rate_per_hour,noise[,failure_at] (got 2 values)");
  EXPECT_EQ(error_of("drift:1,2,-1"), "drift: the noise must not be negative");
  EXPECT_EQ(error_of("constant:"), "constant takes a value (constant:V)");
  EXPECT_EQ(error_of("square:1"),
            "unknown generator 'square' (expected constant:, sine:, walk:, drift: or flip:)");
}

TEST(Duration, UnitsAndPlainSeconds) {
  EXPECT_DOUBLE_EQ(*parse_duration_s("100ms"), 0.1);
  EXPECT_DOUBLE_EQ(*parse_duration_s("2.5s"), 2.5);
  EXPECT_DOUBLE_EQ(*parse_duration_s("5m"), 300);
  EXPECT_DOUBLE_EQ(*parse_duration_s("5min"), 300);
  EXPECT_DOUBLE_EQ(*parse_duration_s("1h"), 3600);
  EXPECT_DOUBLE_EQ(*parse_duration_s("7"), 7);
  EXPECT_FALSE(parse_duration_s("-1s"));
  EXPECT_FALSE(parse_duration_s("s"));
  EXPECT_FALSE(parse_duration_s("5 parsecs"));
}

}  // namespace
}  // namespace doppel::sim
