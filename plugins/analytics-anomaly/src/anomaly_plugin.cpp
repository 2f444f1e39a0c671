// analytics-anomaly: streaming anomaly detection per twin and telemetry (EWMA z-score or robust
// median/MAD), configured as `detectors:` and checked against the models at configure. An
// anomaly is published as an Event of type "anomaly" with its score; detector state is kept in
// the plugin's durable state and restored at start.
#include <charconv>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <new>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "detectors.hpp"
#include "doppel/sdk/analytics.hpp"
#include "doppel/sdk/json.hpp"

namespace doppel::plugins::anomaly {
namespace {

using namespace doppel::sdk;

enum class Method : std::uint8_t { kEwma, kMad };

struct DetectorConfig {
  std::string name;  // event source and state key prefix
  std::string model;
  std::string telemetry;
  Method method = Method::kEwma;
  double alpha = 0.05;
  std::size_t window = 60;
  double threshold = 4;
  std::uint64_t warmup = 30;
  double min_scale = 1e-9;
};

// The numeric slot `path` of `model`: "" when fine, else what is wrong.
std::string check_numeric_slot(TwinAccess& twins, std::string_view model, std::string_view path) {
  struct Find final : ModelVisitor {
    std::string_view path;
    const char* problem = "is not a property or telemetry of the model";
    void visit(const ModelDescription& m) noexcept override {
      for (const ModelSlot& s : m.slots)
        if (s.path == path)
          problem = s.type == ValueType::kNumber ? nullptr : "is not numeric in the model";
    }
  } find;
  find.path = path;
  if (!twins.describe(model, find)) return "model '" + std::string(model) + "' is not loaded";
  if (find.problem) return "'" + std::string(path) + "' " + find.problem + " " + std::string(model);
  return {};
}

Expected<std::vector<DetectorConfig>> parse(const ConfigNode& config, TwinAccess& twins) {
  const ConfigNode& list = config.get("detectors");
  if (list.type() != ConfigNode::Type::kList || list.size() == 0)
    return invalid_argument("'detectors' must be a non-empty list of {on, telemetry, method, ...}",
                            list.where());
  static const std::set<std::string_view> kKeys = {
      "name", "on", "telemetry", "method", "alpha", "window", "threshold", "warmup", "min_scale"};
  std::vector<DetectorConfig> out;
  std::set<std::string> names;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const ConfigNode& d = list.at(i);
    if (d.type() != ConfigNode::Type::kMap)
      return invalid_argument("a detector is a map {on, telemetry, method, ...}", d.where());
    for (std::size_t k = 0; k < d.size(); ++k)
      if (!kKeys.count(d.key_at(k)))
        return invalid_argument(
            "unknown key '" + std::string(d.key_at(k)) +
                "' (known: name, on, telemetry, method, alpha, window, threshold, warmup, "
                "min_scale)",
            d.get(d.key_at(k)).where());
    DetectorConfig c;
    auto text = [&](const char* key, std::string& into) -> Status {
      const ConfigNode& n = d.get(key);
      if (n.type() != ConfigNode::Type::kString || n.text().empty())
        return invalid_argument(std::string("'") + key + "' is required (a string)", n.where());
      into = std::string(n.text());
      return {};
    };
    auto num = [&](const char* key, double& into, double lo, double hi, bool lo_open) -> Status {
      const ConfigNode& n = d.get(key);
      if (n.missing()) return {};
      if (n.type() != ConfigNode::Type::kNumber && n.type() != ConfigNode::Type::kInteger)
        return invalid_argument(std::string("'") + key + "' must be a number", n.where());
      double v = n.as_number();
      if (!(lo_open ? v > lo : v >= lo) || v > hi)
        return invalid_argument(std::string("'") + key + "' must be in " + (lo_open ? "(" : "[") +
                                    sdk::json_number(lo) + ", " + sdk::json_number(hi) + "], got " +
                                    sdk::json_number(v),
                                n.where());
      into = v;
      return {};
    };
    if (Status s = text("on", c.model); !s) return s;
    if (Status s = text("telemetry", c.telemetry); !s) return s;
    const ConfigNode& method = d.get("method");
    if (method.missing() || method.text() == "ewma")
      c.method = Method::kEwma;
    else if (method.text() == "mad")
      c.method = Method::kMad;
    else
      return invalid_argument(
          "method must be 'ewma' or 'mad', got '" + std::string(method.text()) + "'",
          method.where());
    double window = 60, warmup = c.method == Method::kMad ? -1 : 30;
    if (Status s = num("alpha", c.alpha, 0, 1, true); !s) return s;
    if (Status s = num("window", window, 5, 100000, false); !s) return s;
    if (Status s = num("threshold", c.threshold, 0, 1e9, true); !s) return s;
    if (Status s = num("warmup", warmup, 0, 1e12, false); !s) return s;
    if (Status s = num("min_scale", c.min_scale, 0, 1e300, true); !s) return s;
    if (!d.get("alpha").missing() && c.method != Method::kEwma)
      return invalid_argument("'alpha' applies to method ewma only", d.get("alpha").where());
    if (!d.get("window").missing() && c.method != Method::kMad)
      return invalid_argument("'window' applies to method mad only", d.get("window").where());
    c.window = static_cast<std::size_t>(window);
    // mad: by default score only once the window is full.
    c.warmup = warmup < 0 ? c.window : static_cast<std::uint64_t>(warmup);
    if (std::string problem = check_numeric_slot(twins, c.model, c.telemetry); !problem.empty())
      return invalid_argument(problem,
                              d.get(problem.starts_with("model") ? "on" : "telemetry").where());
    c.name = d.get("name").missing()
                 ? c.telemetry + "-" + (c.method == Method::kEwma ? "ewma" : "mad")
                 : std::string(d.get("name").text());
    if (c.name.empty() || c.name.find('/') != std::string::npos)
      return invalid_argument("'name' must be non-empty and without '/'", d.get("name").where());
    if (!names.insert(c.name).second)
      return invalid_argument(
          "two detectors are named '" + c.name + "'; give one a different 'name'", d.where());
    out.push_back(std::move(c));
  }
  return out;
}

// The state of one detector on one twin.
struct Series {
  EwmaDetector ewma;
  MadDetector mad;
  Timestamp last_time = 0;
  bool in_episode = false;  // inside an anomalous episode: reported once, at its start
};

class AnomalyPlugin final : public AnalyticsPlugin {
 public:
  explicit AnomalyPlugin(const PluginContext& c)
      : twins_(*c.twins),
        log_(*c.log),
        samples_(c.metrics->counter("anomaly_samples_total", "", "Samples scored by detectors")),
        anomalies_(c.metrics->counter("anomaly_events_total", "", "Anomalies published")),
        late_(c.metrics->counter("anomaly_late_samples_total", "",
                                 "Samples older than the last one of their series, skipped")) {}

  Status configure(const ConfigNode& config) noexcept override {
    try {
      auto parsed = parse(config, twins_);
      if (!parsed) return parsed.status();
      detectors_ = std::move(*parsed);
      series_.resize(detectors_.size());
      return {};
    } catch (const std::exception& e) {
      return internal_error(e.what());
    }
  }

  Status start() noexcept override {
    try {
      // Restores "<detector>/<twin>" records; detectors no longer configured are dropped.
      std::size_t restored = 0;
      Status s = scan_state(twins_, "", [&](std::string_view key, std::string_view value) {
        if (restore(key, value)) ++restored;
      });
      if (!s)
        log_.warn("detector state not restored", {{"error", s.to_string()}});
      else if (restored)
        log_.info("detector state restored", {{"series", std::to_string(restored)}});
      return {};
    } catch (const std::exception& e) {
      return internal_error(e.what());
    }
  }
  void stop() noexcept override {}

  void on_changes(std::span<const TwinChange> changes) noexcept override {
    for (const TwinChange& c : changes) {
      try {
        if (c.kind == TwinChangeKind::kDeleted) {
          forget(c.twin);
          continue;
        }
        if (c.kind != TwinChangeKind::kReported) continue;
        for (std::size_t d = 0; d < detectors_.size(); ++d) {
          const DetectorConfig& cfg = detectors_[d];
          if (!applies(d, c.model)) continue;
          for (const ChangedSlot& s : c.slots)
            if (s.path == cfg.telemetry && s.value.is_numeric())
              sample(d, c.twin, s.value.number, s.time);
        }
      } catch (...) {
        // Out of memory: this change is lost for anomaly detection only.
      }
    }
  }

 private:
  bool applies(std::size_t d, std::string_view model) {
    auto& cache = applies_[d];
    auto it = cache.find(std::string(model));
    if (it != cache.end()) return it->second;
    bool yes = twins_.model_is(model, detectors_[d].model);
    cache.emplace(std::string(model), yes);
    return yes;
  }

  Series& series(std::size_t d, std::string_view twin) {
    auto& m = series_[d];
    auto it = m.find(std::string(twin));
    if (it == m.end())
      it = m.emplace(std::string(twin),
                     Series{EwmaDetector(detectors_[d].alpha), MadDetector(detectors_[d].window)})
               .first;
    return it->second;
  }

  void sample(std::size_t d, std::string_view twin, double x, Timestamp time) {
    const DetectorConfig& cfg = detectors_[d];
    Series& s = series(d, twin);
    if (time < s.last_time) {
      late_.add();
      return;
    }
    samples_.add();
    s.last_time = time;
    const bool ewma = cfg.method == Method::kEwma;
    // The detector's view before this sample, for the event.
    const double center = ewma ? s.ewma.mean() : 0;
    const double scale = ewma ? s.ewma.scale() : 0;
    const std::uint64_t seen = ewma ? s.ewma.count() : s.mad.count();
    const double z =
        ewma ? s.ewma.score_and_update(x, cfg.min_scale) : s.mad.score_and_update(x, cfg.min_scale);
    const bool anomalous = seen >= cfg.warmup && std::fabs(z) > cfg.threshold;
    if (anomalous && !s.in_episode) {
      const double c = ewma ? center : s.mad.median_seen();
      const double sc = ewma ? scale : s.mad.scale();
      std::string data = "{\"telemetry\":" + sdk::json_string(cfg.telemetry) +
                         ",\"value\":" + sdk::json_number(x) + ",\"score\":" + sdk::json_number(z) +
                         ",\"method\":\"" + (ewma ? "ewma" : "mad") + "\",\"" +
                         (ewma ? "mean" : "median") + "\":" + sdk::json_number(c) +
                         ",\"scale\":" + sdk::json_number(sc) +
                         ",\"threshold\":" + sdk::json_number(cfg.threshold) + "}";
      std::string message = cfg.telemetry + " " + sdk::json_number(x) + " is anomalous (score " +
                            sdk::json_number(std::round(z * 100) / 100) + ")";
      twins_.publish({"anomaly", twin, cfg.name, "", time, message, data});
      anomalies_.add();
    }
    // Hysteresis: an episode ends at the first sample scoring below half the threshold, so a
    // level shift the detector is still adapting to (scores hovering near the threshold) stays
    // one episode.
    if (anomalous)
      s.in_episode = true;
    else if (std::fabs(z) < cfg.threshold / 2 || seen < cfg.warmup)
      s.in_episode = false;
    persist(d, twin, s);
  }

  // "<n> <last_time> <episode> <mean> <var>" (ewma) or "<n> <last_time> <episode> <v>..." (mad).
  void persist(std::size_t d, std::string_view twin, const Series& s) {
    const bool ewma = detectors_[d].method == Method::kEwma;
    std::string v = std::to_string(ewma ? s.ewma.count() : s.mad.count()) + " " +
                    std::to_string(s.last_time) + " " + (s.in_episode ? "1" : "0");
    if (ewma) {
      v += " " + sdk::json_number(s.ewma.mean()) + " " + sdk::json_number(s.ewma.variance());
    } else {
      for (double x : s.mad.values())
        v += " " + sdk::json_number(x);
    }
    std::string key = detectors_[d].name + "/" + std::string(twin);
    if (Status st = twins_.state_put(key, v); !st && !state_warned_) {
      state_warned_ = true;
      log_.warn("detector state not saved", {{"error", st.to_string()}});
    }
  }

  bool restore(std::string_view key, std::string_view value) {
    const auto slash = key.find('/');
    if (slash == std::string_view::npos) return false;
    std::string_view name = key.substr(0, slash), twin = key.substr(slash + 1);
    std::size_t d = 0;
    while (d < detectors_.size() && detectors_[d].name != name)
      ++d;
    if (d == detectors_.size()) return false;
    std::vector<std::string_view> parts;
    for (std::size_t at = 0; at <= value.size();) {
      std::size_t sp = value.find(' ', at);
      if (sp == std::string_view::npos) sp = value.size();
      if (sp > at) parts.push_back(value.substr(at, sp - at));
      at = sp + 1;
    }
    if (parts.size() < 3) return false;
    auto to_u = [](std::string_view t, auto& out) {
      return std::from_chars(t.data(), t.data() + t.size(), out).ec == std::errc();
    };
    std::uint64_t n = 0;
    Timestamp last = 0;
    if (!to_u(parts[0], n) || !to_u(parts[1], last)) return false;
    std::vector<double> xs;
    for (std::size_t i = 3; i < parts.size(); ++i) {
      double x = 0;
      if (!to_u(parts[i], x)) return false;
      xs.push_back(x);
    }
    Series& s = series(d, twin);
    s.last_time = last;
    s.in_episode = parts[2] == "1";
    if (detectors_[d].method == Method::kEwma) {
      if (xs.size() != 2) return false;
      s.ewma.restore(n, xs[0], xs[1]);
    } else {
      s.mad.restore(n, std::move(xs));
    }
    return true;
  }

  void forget(std::string_view twin) {
    for (std::size_t d = 0; d < detectors_.size(); ++d) {
      if (series_[d].erase(std::string(twin)))
        (void)twins_.state_erase(detectors_[d].name + "/" + std::string(twin));
    }
  }

  TwinAccess& twins_;
  Logger& log_;
  Counter& samples_;
  Counter& anomalies_;
  Counter& late_;
  std::vector<DetectorConfig> detectors_;
  std::vector<std::unordered_map<std::string, Series>> series_;  // per detector, per twin
  std::map<std::size_t, std::unordered_map<std::string, bool>> applies_;
  bool state_warned_ = false;
};

constexpr ConfigField kFields[] = {
    {"detectors", ConfigNode::Type::kList, true, "",
     "[{on, telemetry, method: ewma|mad, alpha, window, threshold, warmup, min_scale, name}]"},
};

const PluginDescriptor kDescriptor{
    DOPPEL_SDK_ABI_MAJOR,
    DOPPEL_SDK_ABI_MINOR,
    DOPPEL_SDK_TOOLCHAIN,
    PluginKind::kAnalytics,
    "anomaly",
    "1.0.0",
    "streaming anomaly detection (EWMA z-score, median/MAD) per twin and telemetry",
    kFields,
    sizeof kFields / sizeof kFields[0],
    [](const PluginContext& c) noexcept -> Plugin* {
      return create_plugin<AnomalyPlugin>(c, "anomaly", kNeedsTwins | kNeedsLog | kNeedsMetrics);
    },
    destroy_plugin};

}  // namespace
}  // namespace doppel::plugins::anomaly

DOPPEL_PLUGIN_ENTRY(doppel::plugins::anomaly::kDescriptor)
