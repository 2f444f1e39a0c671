// analytics-anomaly through the real host in an in-process Runtime on fake time: a seeded noisy
// signal with injected spikes and level shifts (measured precision and recall, asserted), the
// warm-up, state restored after a restart on RocksDB, and config errors with their location.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "detectors.hpp"
#include "doppel/runtime/deployment.hpp"
#include "doppel/runtime/runtime.hpp"
#include "doppel/testing/runtime_fixture.hpp"
#include "doppel/testing/test_services.hpp"

namespace doppel::plugins::anomaly {
namespace {

using runtime::EventRecord;
using twin::SlotWrite;
using twin::Value;

constexpr sdk::Timestamp kT0 = 1'700'000'000'000'000'000;

struct Deployment : testing::RuntimeFixture {
  Deployment() : RuntimeFixture(kT0) {}

  bool start(const std::string& detectors, const std::string& storage = "") {
    std::ostringstream yaml;
    yaml << "apiVersion: doppel/v1\nname: anomaly\nmodels: [\"" DOPPEL_SOURCE_DIR
            "/examples/models/factory\"]\nplugins:\n"
         << storage << "  - name: anomalies\n    kind: analytics\n    library: anomaly\n"
         << "    config:\n      detectors:\n"
         << detectors
         << "twins:\n  - {id: \"motor-{i}\", count: 3, model: \"dtmi:example:factory:Motor;1\"}\n";
    return RuntimeFixture::start(yaml.str());
  }
  void report(const std::string& twin, const std::string& path, double v, sdk::Timestamp t) {
    sdk::Status s = RuntimeFixture::report(twin, path, v, t);
    ASSERT_TRUE(s) << s.to_string();
  }
  std::vector<EventRecord> anomalies(const std::string& source = "") {
    rt->drain_analytics();
    std::vector<EventRecord> out;
    auto recent = rt->recent_events(100000);
    for (auto it = recent.rbegin(); it != recent.rend(); ++it)  // oldest first
      if (it->type == "anomaly" && (source.empty() || it->source == source)) out.push_back(*it);
    return out;
  }
};

const std::string kBoth =
    "        - {on: \"dtmi:example:factory:Motor;1\", telemetry: temperature, method: ewma, "
    "alpha: 0.02, threshold: 4.5, warmup: 50}\n"
    "        - {on: \"dtmi:example:factory:Motor;1\", telemetry: vibration, method: mad, "
    "window: 150, threshold: 4.5}\n";

// A seeded signal: Gaussian noise around a level, with spikes (one sample) and level shifts
// (the level changes and stays). `truth` holds [first, last] sample windows in which a
// detection counts as finding that injected anomaly.
struct Signal {
  std::vector<double> x;
  std::vector<std::pair<std::size_t, std::size_t>> truth;
  std::size_t spikes = 0, shifts = 0;
};

Signal make_signal(std::uint64_t seed, double level, double sigma) {
  constexpr std::size_t kN = 8000;
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> noise(0, sigma);
  std::uniform_real_distribution<double> size(6, 10);
  std::uniform_int_distribution<int> jitter(0, 60);
  Signal s;
  const std::vector<std::size_t> shifts = {2000, 4000, 6000};
  std::vector<double> add(kN, 0);
  double lvl = level;
  std::vector<double> base(kN);
  for (std::size_t i = 0; i < kN; ++i) {
    for (std::size_t k = 0; k < shifts.size(); ++k)
      if (i == shifts[k]) lvl += (k % 2 ? -1 : 1) * 8 * sigma;
    base[i] = lvl;
  }
  for (std::size_t j : shifts) {
    s.truth.push_back({j, j + 5});
    ++s.shifts;
  }
  for (std::size_t i = 150; i + 100 < kN; i += 150 + static_cast<std::size_t>(jitter(rng))) {
    bool near_shift = false;
    for (std::size_t j : shifts)
      if (i + 30 >= j && i < j + 200) near_shift = true;
    if (near_shift) continue;
    add[i] = (rng() % 2 ? 1 : -1) * size(rng) * sigma;
    s.truth.push_back({i, i});
    ++s.spikes;
  }
  for (std::size_t i = 0; i < kN; ++i)
    s.x.push_back(base[i] + add[i] + noise(rng));
  return s;
}

struct Score {
  double precision = 0, recall = 0;
  std::size_t detections = 0, true_detections = 0, found = 0;
};

Score score(const Signal& s, const std::vector<EventRecord>& events) {
  std::vector<bool> found(s.truth.size(), false);
  Score r;
  for (const EventRecord& e : events) {
    const auto i = static_cast<std::size_t>((e.time - kT0) / sdk::kSecond);
    bool hit = false;
    for (std::size_t k = 0; k < s.truth.size(); ++k)
      if (i >= s.truth[k].first && i <= s.truth[k].second) hit = found[k] = true;
    r.true_detections += hit;
    if (!hit && std::getenv("ANOMALY_DEBUG"))
      std::printf("  false at %zu: %s\n", i, e.data.c_str());
  }
  r.detections = events.size();
  for (bool f : found)
    r.found += f;
  r.precision = r.detections ? double(r.true_detections) / double(r.detections) : 0;
  r.recall = double(r.found) / double(s.truth.size());
  return r;
}

TEST(Anomaly, SpikesAndLevelShiftsInASeededSignalMeetPrecisionAndRecall) {
  Deployment d;
  ASSERT_TRUE(d.start(kBoth)) << d.error;
  double worst_precision = 1, worst_recall = 1;
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    const std::string twin = "motor-" + std::to_string(seed);
    Signal temp = make_signal(seed, 50, 1.0);
    Signal vib = make_signal(seed + 100, 2.0, 0.05);
    for (std::size_t i = 0; i < temp.x.size(); ++i) {
      const sdk::Timestamp t = kT0 + static_cast<sdk::Timestamp>(i) * sdk::kSecond;
      d.report(twin, "temperature", temp.x[i], t);
      d.report(twin, "vibration", vib.x[i], t);
    }
    auto all_ewma = d.anomalies("temperature-ewma");
    auto all_mad = d.anomalies("vibration-mad");
    std::vector<EventRecord> ewma, mad;
    for (auto& e : all_ewma)
      if (e.twin == twin) ewma.push_back(e);
    for (auto& e : all_mad)
      if (e.twin == twin) mad.push_back(e);
    Score se = score(temp, ewma), sm = score(vib, mad);
    std::printf(
        "seed %llu: %zu spikes %zu shifts | ewma: %zu detections, precision %.3f recall "
        "%.3f | mad: %zu detections, precision %.3f recall %.3f\n",
        static_cast<unsigned long long>(seed), temp.spikes, temp.shifts, se.detections,
        se.precision, se.recall, sm.detections, sm.precision, sm.recall);
    worst_precision = std::min({worst_precision, se.precision, sm.precision});
    worst_recall = std::min({worst_recall, se.recall, sm.recall});
    // Every event carries its score, above the threshold.
    ASSERT_FALSE(ewma.empty());
    EXPECT_NE(ewma[0].data.find("\"score\":"), std::string::npos) << ewma[0].data;
    EXPECT_NE(ewma[0].data.find("\"method\":\"ewma\""), std::string::npos) << ewma[0].data;
  }
  EXPECT_GE(worst_precision, 0.95);
  EXPECT_GE(worst_recall, 0.95);
}

TEST(Anomaly, NothingIsReportedDuringTheWarmUp) {
  Deployment d;
  ASSERT_TRUE(d.start(kBoth)) << d.error;
  std::mt19937_64 rng(7);
  std::normal_distribution<double> noise(0, 1);
  for (int i = 0; i < 80; ++i) {
    double v = 50 + noise(rng);
    if (i == 10 || i == 60) v += 12;  // a spike in the warm-up (50 samples) and one after it
    d.report("motor-1", "temperature", v, kT0 + i * sdk::kSecond);
  }
  auto events = d.anomalies("temperature-ewma");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].time, kT0 + 60 * sdk::kSecond);
  EXPECT_EQ(events[0].twin, "motor-1");
}

TEST(Anomaly, DetectorStateIsRestoredAfterARestart) {
  testing::TempDir db;
  const std::string storage = "  - {name: store, kind: storage, library: rocksdb, config: {path: " +
                              (db.path() / "db").string() + "}}\n";
  std::mt19937_64 rng(11);
  std::normal_distribution<double> noise(0, 1);
  {
    Deployment d;
    ASSERT_TRUE(d.start(kBoth, storage)) << d.error;
    for (int i = 0; i < 200; ++i) {
      d.report("motor-2", "temperature", 50 + noise(rng), kT0 + i * sdk::kSecond);
      d.report("motor-2", "vibration", 2 + 0.05 * noise(rng), kT0 + i * sdk::kSecond);
    }
    EXPECT_TRUE(d.anomalies().empty());
    d.rt->stop();
  }
  Deployment d;
  ASSERT_TRUE(d.start(kBoth, storage)) << d.error;
  // Fresh detectors would still be warming up (and the MAD window empty): only restored state
  // flags these.
  d.report("motor-2", "temperature", 62, kT0 + 200 * sdk::kSecond);
  d.report("motor-2", "vibration", 2.6, kT0 + 200 * sdk::kSecond);
  auto events = d.anomalies();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].source, "temperature-ewma");
  EXPECT_EQ(events[1].source, "vibration-mad");
  // A sample older than the restored series is skipped, not scored.
  d.report("motor-2", "temperature", 90, kT0 + 5 * sdk::kSecond);
  EXPECT_EQ(d.anomalies().size(), 2u);
}

TEST(Anomaly, ConfigIsCheckedAgainstTheModelWithLocations) {
  {
    Deployment d;
    EXPECT_FALSE(d.start(
        "        - {on: \"dtmi:example:factory:Motor;1\", telemetry: vibrations, method: ewma}\n"));
    EXPECT_NE(d.error.find("'vibrations' is not a property or telemetry of"), std::string::npos)
        << d.error;
    EXPECT_NE(d.error.find("deploy.yaml:10:"), std::string::npos) << d.error;
  }
  {
    Deployment d;
    EXPECT_FALSE(
        d.start("        - {on: \"dtmi:example:factory:Motor;1\", telemetry: serialNumber, method: "
                "mad}\n"));
    EXPECT_NE(d.error.find("'serialNumber' is not numeric"), std::string::npos) << d.error;
  }
  {
    Deployment d;
    EXPECT_FALSE(
        d.start("        - {on: \"dtmi:example:factory:Motor;1\", telemetry: temperature, "
                "method: zscore}\n"));
    EXPECT_NE(d.error.find("method must be 'ewma' or 'mad'"), std::string::npos) << d.error;
  }
  {
    Deployment d;
    EXPECT_FALSE(
        d.start("        - {on: \"dtmi:example:factory:Pump;1\", telemetry: temperature}\n"));
    EXPECT_NE(d.error.find("model 'dtmi:example:factory:Pump;1' is not loaded"), std::string::npos)
        << d.error;
  }
  {
    Deployment d;
    EXPECT_FALSE(d.start(
        "        - {on: \"dtmi:example:factory:Motor;1\", telemetry: temperature, treshold: 3}\n"));
    EXPECT_NE(d.error.find("unknown key 'treshold'"), std::string::npos) << d.error;
  }
  {
    Deployment d;
    EXPECT_FALSE(
        d.start("        - {on: \"dtmi:example:factory:Motor;1\", telemetry: temperature, "
                "method: ewma, alpha: 1.5}\n"));
    EXPECT_NE(d.error.find("'alpha' must be in (0, 1]"), std::string::npos) << d.error;
  }
}

TEST(Detectors, EwmaLearnsMeanAndSpreadAndScoresAgainstThem) {
  EwmaDetector e(0.1);
  EXPECT_EQ(e.score_and_update(10, 1e-9), 0) << "nothing to score against yet";
  for (int i = 0; i < 500; ++i)
    (void)e.score_and_update(i % 2 ? 11 : 9, 1e-9);  // mean 10, sd 1
  EXPECT_NEAR(e.mean(), 10, 0.1);
  EXPECT_NEAR(e.scale(), 1, 0.1);
  EXPECT_NEAR(e.score_and_update(16, 1e-9), 6, 0.7);
}

TEST(Detectors, MadIgnoresSpikesInItsWindow) {
  MadDetector m(20);
  for (int i = 0; i < 20; ++i)
    (void)m.score_and_update(i % 2 ? 11 : 9, 1e-9);
  EXPECT_DOUBLE_EQ(m.score_and_update(100, 1e-9), (100 - 10) / 1.4826);
  // The spike is now in the window: the next spike scores (almost) the same.
  EXPECT_NEAR(m.score_and_update(100, 1e-9), (100 - 10) / 1.4826, 1.0);
  // A flat signal: the floor keeps the score finite.
  MadDetector flat(10);
  for (int i = 0; i < 10; ++i)
    (void)flat.score_and_update(5, 0.5);
  EXPECT_DOUBLE_EQ(flat.score_and_update(6, 0.5), 2);
}

TEST(Anomaly, SampleYamlValidates) {
  auto load = runtime::load_deployment(std::filesystem::path(DOPPEL_ANOMALY_DIR) / "sample.yaml");
  ASSERT_TRUE(load.ok());
  runtime::RuntimeOptions o;
  o.start_plugins = false;
  o.log = std::make_unique<runtime::Log>(
      "test", runtime::LogOptions{sdk::LogLevel::kError, runtime::LogFormat::kText});
  runtime::Runtime rt(std::move(*load.deployment), load.models, std::move(o));
  auto checked = rt.start();
  EXPECT_TRUE(checked) << checked.status().to_string();
}

}  // namespace
}  // namespace doppel::plugins::anomaly
