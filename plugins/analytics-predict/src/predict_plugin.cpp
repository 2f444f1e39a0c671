// analytics-predict: trend-based time-to-threshold per twin and telemetry. A robust fit
// (Theil–Sen linear, or Theil–Sen over ln(y - baseline) for exponential growth or decay) over a
// sliding window of event-time samples, re-estimated as each sample arrives. The predicted time
// is written with set_derived as a dateTime property (e.g. `predictedFailureAt`), with a
// confidence band in the event data (and optionally two more properties); each new or moved
// prediction is an Event of type "prediction". Windows are kept in the plugin's durable state.
#include <charconv>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <deque>
#include <map>
#include <new>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "doppel/sdk/analytics.hpp"
#include "doppel/sdk/json.hpp"
#include "trend_fit.hpp"

namespace doppel::plugins::predict {
namespace {

using namespace doppel::sdk;

struct PredictionConfig {
  std::string name;
  std::string model;
  std::string telemetry;
  double threshold = 0;
  int sign = +1;  // direction: +1 above (rising to it), -1 below (falling to it)
  bool exponential = false;
  double baseline = 0;
  Duration window = 60 * kMinute;
  std::size_t max_samples = 200;
  std::size_t min_samples = 10;
  Duration horizon = 365LL * 24 * 3600 * kSecond;
  double confidence = 0.95;
  std::string property, lower_property, upper_property;
  std::string hours_property;  // a numeric property: hours until the predicted crossing (rules)
};

// RFC 3339 UTC with seconds ("2026-11-25T10:00:00Z").
std::string date_time(Timestamp t) {
  std::time_t s = static_cast<std::time_t>(t / kSecond - (t % kSecond < 0 ? 1 : 0));
  std::tm tm{};
  gmtime_r(&s, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// "90s", "30m", "6h", "14d", "500ms" or a number of seconds.
std::optional<Duration> parse_duration(std::string_view text) {
  double v = 0;
  auto r = std::from_chars(text.data(), text.data() + text.size(), v);
  if (r.ec != std::errc() || v <= 0) return std::nullopt;
  std::string_view unit(r.ptr, static_cast<std::size_t>(text.data() + text.size() - r.ptr));
  double scale = 0;
  if (unit.empty() || unit == "s")
    scale = 1e9;
  else if (unit == "ms")
    scale = 1e6;
  else if (unit == "m")
    scale = 60e9;
  else if (unit == "h")
    scale = 3600e9;
  else if (unit == "d")
    scale = 86400e9;
  else
    return std::nullopt;
  return static_cast<Duration>(v * scale);
}

struct SlotInfo {
  bool found = false, property = false;
  ValueType type = ValueType::kNone;
};

Expected<std::vector<PredictionConfig>> parse(const ConfigNode& config, TwinAccess& twins) {
  const ConfigNode& list = config.get("predictions");
  if (list.type() != ConfigNode::Type::kList || list.size() == 0)
    return invalid_argument(
        "'predictions' must be a non-empty list of {on, telemetry, threshold, property, ...}",
        list.where());
  static const std::set<std::string_view> kKeys = {
      "name",          "on",         "telemetry", "threshold",      "direction",
      "method",        "baseline",   "window",    "max_samples",    "min_samples",
      "horizon",       "confidence", "property",  "lower_property", "upper_property",
      "hours_property"};
  std::vector<PredictionConfig> out;
  std::set<std::string> names;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const ConfigNode& d = list.at(i);
    if (d.type() != ConfigNode::Type::kMap)
      return invalid_argument("a prediction is a map {on, telemetry, threshold, property, ...}",
                              d.where());
    for (std::size_t k = 0; k < d.size(); ++k)
      if (!kKeys.count(d.key_at(k)))
        return invalid_argument("unknown key '" + std::string(d.key_at(k)) +
                                    "' (known: name, on, telemetry, threshold, direction, method, "
                                    "baseline, window, max_samples, min_samples, horizon, "
                                    "confidence, property, lower_property, upper_property, "
                                    "hours_property)",
                                d.get(d.key_at(k)).where());
    PredictionConfig c;
    auto text = [&](const char* key, std::string& into, bool required) -> Status {
      const ConfigNode& n = d.get(key);
      if (n.missing() && !required) return {};
      if (n.type() != ConfigNode::Type::kString || n.text().empty())
        return invalid_argument(std::string("'") + key + "' is required (a string)", n.where());
      into = std::string(n.text());
      return {};
    };
    auto num = [&](const char* key, double& into, bool required) -> Status {
      const ConfigNode& n = d.get(key);
      if (n.missing() && !required) return {};
      if (n.type() != ConfigNode::Type::kNumber && n.type() != ConfigNode::Type::kInteger)
        return invalid_argument(std::string("'") + key + "' must be a number", n.where());
      into = n.as_number();
      return {};
    };
    auto duration = [&](const char* key, Duration& into) -> Status {
      const ConfigNode& n = d.get(key);
      if (n.missing()) return {};
      auto v = parse_duration(n.text());
      if (!v)
        return invalid_argument(
            std::string("'") + key + "' must be a positive duration such as 90s, 30m, 6h or 14d",
            n.where());
      into = *v;
      return {};
    };
    if (Status s = text("on", c.model, true); !s) return s;
    if (Status s = text("telemetry", c.telemetry, true); !s) return s;
    if (Status s = text("property", c.property, true); !s) return s;
    if (Status s = text("lower_property", c.lower_property, false); !s) return s;
    if (Status s = text("upper_property", c.upper_property, false); !s) return s;
    if (Status s = text("hours_property", c.hours_property, false); !s) return s;
    if (Status s = num("threshold", c.threshold, true); !s) return s;
    if (Status s = num("baseline", c.baseline, false); !s) return s;
    double max_samples = 200, min_samples = 10;
    if (Status s = num("max_samples", max_samples, false); !s) return s;
    if (Status s = num("min_samples", min_samples, false); !s) return s;
    if (Status s = num("confidence", c.confidence, false); !s) return s;
    if (Status s = duration("window", c.window); !s) return s;
    if (Status s = duration("horizon", c.horizon); !s) return s;
    if (max_samples < 3 || max_samples > 2000)
      return invalid_argument("'max_samples' must be in [3, 2000] (the fit is O(n^2))",
                              d.get("max_samples").where());
    if (min_samples < 3 || min_samples > max_samples)
      return invalid_argument("'min_samples' must be in [3, max_samples]",
                              d.get("min_samples").where());
    c.max_samples = static_cast<std::size_t>(max_samples);
    c.min_samples = static_cast<std::size_t>(min_samples);
    if (!(c.confidence >= 0.5 && c.confidence < 1))
      return invalid_argument("'confidence' must be in [0.5, 1)", d.get("confidence").where());
    const ConfigNode& direction = d.get("direction");
    if (!direction.missing() && direction.text() == "below")
      c.sign = -1;
    else if (!direction.missing() && direction.text() != "above")
      return invalid_argument("direction must be 'above' or 'below'", direction.where());
    const ConfigNode& method = d.get("method");
    if (!method.missing() && method.text() == "exponential")
      c.exponential = true;
    else if (!method.missing() && method.text() != "linear")
      return invalid_argument("method must be 'linear' or 'exponential'", method.where());
    if (!c.exponential && !d.get("baseline").missing())
      return invalid_argument("'baseline' applies to method exponential only",
                              d.get("baseline").where());
    if (c.exponential && c.threshold <= c.baseline)
      return invalid_argument(
          "exponential: the threshold must lie above 'baseline' (the fit is over ln(y - baseline))",
          d.get("threshold").where());
    // Against the model.
    struct Find final : ModelVisitor {
      std::map<std::string, SlotInfo, std::less<>> slots;
      void visit(const ModelDescription& m) noexcept override {
        try {
          for (const ModelSlot& s : m.slots)
            slots[std::string(s.path)] = {true, s.is_property, s.type};
        } catch (...) {
        }
      }
    } find;
    if (!twins.describe(c.model, find))
      return invalid_argument("model '" + c.model + "' is not loaded", d.get("on").where());
    auto slot = [&](const std::string& p) {
      auto it = find.slots.find(p);
      return it == find.slots.end() ? SlotInfo{} : it->second;
    };
    SlotInfo t = slot(c.telemetry);
    if (!t.found)
      return invalid_argument("'" + c.telemetry + "' is not a property or telemetry of " + c.model,
                              d.get("telemetry").where());
    if (t.type != ValueType::kNumber)
      return invalid_argument("'" + c.telemetry + "' is not numeric in " + c.model,
                              d.get("telemetry").where());
    for (const char* key : {"property", "lower_property", "upper_property"}) {
      const std::string& p = key[0] == 'p'   ? c.property
                             : key[0] == 'l' ? c.lower_property
                                             : c.upper_property;
      if (p.empty()) continue;
      SlotInfo s = slot(p);
      if (!s.found || !s.property || s.type != ValueType::kString)
        return invalid_argument("'" + p + "' must be a dateTime property of " + c.model +
                                    " (add it to the model to hold the prediction)",
                                d.get(key).where());
    }
    if (!c.hours_property.empty()) {
      SlotInfo s = slot(c.hours_property);
      if (!s.found || !s.property || s.type != ValueType::kNumber)
        return invalid_argument("'" + c.hours_property + "' must be a numeric property of " +
                                    c.model + " (it holds the hours until the predicted crossing)",
                                d.get("hours_property").where());
    }
    c.name = d.get("name").missing() ? c.telemetry + "-" + c.property
                                     : std::string(d.get("name").text());
    if (c.name.empty() || c.name.find('/') != std::string::npos)
      return invalid_argument("'name' must be non-empty and without '/'", d.get("name").where());
    if (!names.insert(c.name).second)
      return invalid_argument("two predictions are named '" + c.name + "'; set 'name'", d.where());
    out.push_back(std::move(c));
  }
  return out;
}

struct Series {
  std::deque<std::pair<Timestamp, double>> samples;  // event time order
  std::optional<Timestamp> published;                // the last prediction published
  std::string written[4];  // the values last written to property, lower_, upper_, hours_property
};

class PredictPlugin final : public AnalyticsPlugin {
 public:
  explicit PredictPlugin(const PluginContext& c)
      : twins_(*c.twins),
        log_(*c.log),
        estimates_(c.metrics->counter("predict_estimates_total", "", "Trend fits computed")),
        events_(c.metrics->counter("predict_events_total", "", "Prediction events published")),
        late_(c.metrics->counter("predict_late_samples_total", "",
                                 "Samples older than the newest of their window, skipped")) {}

  Status configure(const ConfigNode& config) noexcept override {
    try {
      auto parsed = parse(config, twins_);
      if (!parsed) return parsed.status();
      configs_ = std::move(*parsed);
      series_.resize(configs_.size());
      return {};
    } catch (const std::exception& e) {
      return internal_error(e.what());
    }
  }

  Status start() noexcept override {
    try {
      if (Status s = scan_state(
              twins_, "",
              [this](std::string_view key, std::string_view value) { restore(key, value); });
          !s)
        log_.warn("prediction windows not restored", {{"error", s.to_string()}});
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
          for (std::size_t p = 0; p < configs_.size(); ++p)
            if (series_[p].erase(std::string(c.twin)))
              (void)twins_.state_erase(configs_[p].name + "/" + std::string(c.twin));
          continue;
        }
        if (c.kind != TwinChangeKind::kReported) continue;
        for (std::size_t p = 0; p < configs_.size(); ++p) {
          if (!applies(p, c.model)) continue;
          for (const ChangedSlot& s : c.slots)
            if (s.path == configs_[p].telemetry && s.value.is_numeric())
              sample(p, c.twin, s.time, s.value.number);
        }
      } catch (...) {
      }
    }
  }

 private:
  bool applies(std::size_t p, std::string_view model) {
    auto& cache = applies_[p];
    auto it = cache.find(std::string(model));
    if (it == cache.end())
      it = cache.emplace(std::string(model), twins_.model_is(model, configs_[p].model)).first;
    return it->second;
  }

  void sample(std::size_t p, std::string_view twin, Timestamp time, double y) {
    const PredictionConfig& cfg = configs_[p];
    Series& s = series_[p][std::string(twin)];
    if (!s.samples.empty() && time < s.samples.back().first) {
      late_.add();
      return;
    }
    s.samples.emplace_back(time, y);
    while (!s.samples.empty() &&
           (s.samples.front().first < time - cfg.window || s.samples.size() > cfg.max_samples))
      s.samples.pop_front();
    persist(p, twin, s);
    if (s.samples.size() >= cfg.min_samples) estimate(p, twin, s);
  }

  void estimate(std::size_t p, std::string_view twin, Series& s) {
    const PredictionConfig& cfg = configs_[p];
    const Timestamp now = s.samples.back().first;
    std::vector<double> x, y;
    x.reserve(s.samples.size());
    y.reserve(s.samples.size());
    for (const auto& [t, v] : s.samples) {
      double value = v;
      if (cfg.exponential) {
        if (v - cfg.baseline <= 0) continue;  // outside the exponential model
        value = std::log(v - cfg.baseline);
      }
      x.push_back(static_cast<double>(t - now) / 1e9);
      y.push_back(value);
    }
    const double level = cfg.exponential ? std::log(cfg.threshold - cfg.baseline) : cfg.threshold;
    std::optional<LineFit> fit;
    if (x.size() >= cfg.min_samples) fit = theil_sen(x, y, cfg.confidence);
    estimates_.add();
    std::optional<double> in =
        fit ? time_to(fit->intercept, fit->slope, level, cfg.sign) : std::nullopt;
    const double horizon_s = static_cast<double>(cfg.horizon) / 1e9;
    if (in && *in > horizon_s) in.reset();
    if (!in) {
      if (s.published) {
        s.published.reset();
        std::string data = "{\"telemetry\":\"" + cfg.telemetry + "\",\"property\":\"" +
                           cfg.property + "\",\"at\":null}";
        twins_.publish(
            {"prediction", twin, cfg.name, "", now,
             cfg.telemetry + " no longer trends towards " + sdk::json_number(cfg.threshold), data});
        events_.add();
      }
      return;
    }
    const Timestamp at = now + static_cast<Timestamp>(*in * 1e9);
    // The band: the steeper slope reaches the threshold first; the shallower one maybe never.
    const bool rising = cfg.sign > 0;
    const double fast = rising ? fit->slope_hi : fit->slope_lo;
    const double slow = rising ? fit->slope_lo : fit->slope_hi;
    std::optional<double> early =
        time_to(rising ? fit->intercept_hi : fit->intercept_lo, fast, level, cfg.sign);
    std::optional<double> late =
        time_to(rising ? fit->intercept_lo : fit->intercept_hi, slow, level, cfg.sign);
    std::optional<Timestamp> lower, upper;
    if (early) lower = now + static_cast<Timestamp>(std::min(*early, *in) * 1e9);
    if (late && *late <= horizon_s)
      upper = now + static_cast<Timestamp>(std::max(*late, *in) * 1e9);
    write(twin, cfg.property, date_time(at), now, s.written[0]);
    // Hours as a number, so that rules can use the prediction ("predictedHoursToFailure < 168").
    if (!cfg.hours_property.empty())
      write(twin, cfg.hours_property, sdk::json_number(std::round(*in / 36.0) / 100.0), now,
            s.written[3], true);
    if (!cfg.lower_property.empty() && lower)
      write(twin, cfg.lower_property, date_time(*lower), now, s.written[1]);
    if (!cfg.upper_property.empty() && upper)
      write(twin, cfg.upper_property, date_time(*upper), now, s.written[2]);
    // Publish when new, or when it moved by more than 1 % of the time left.
    const double left = static_cast<double>(at - now);
    if (s.published && std::fabs(static_cast<double>(at - *s.published)) <= 0.01 * left) return;
    s.published = at;
    auto stamp = [](std::optional<Timestamp> t) {
      return t ? "\"" + date_time(*t) + "\"" : std::string("null");
    };
    const double per_hour = fit->slope * 3600;  // exponential: the rate k of e^(k t)
    std::string data =
        "{\"telemetry\":\"" + cfg.telemetry + "\",\"property\":\"" + cfg.property + "\",\"at\":\"" +
        date_time(at) + "\",\"atNs\":" + std::to_string(at) + ",\"lower\":" + stamp(lower) +
        ",\"upper\":" + stamp(upper) + ",\"confidence\":" + sdk::json_number(cfg.confidence) +
        ",\"method\":\"" + (cfg.exponential ? "exponential" : "linear") + "\",\"" +
        (cfg.exponential ? "rate_per_hour" : "slope_per_hour") +
        "\":" + sdk::json_number(per_hour) + ",\"threshold\":" + sdk::json_number(cfg.threshold) +
        ",\"samples\":" + std::to_string(x.size()) + "}";
    const double hours = left / 3.6e12;
    twins_.publish({"prediction", twin, cfg.name, "", now,
                    cfg.telemetry + " reaches " + sdk::json_number(cfg.threshold) + " in " +
                        sdk::json_number(std::round(hours * 10) / 10) + " h (" + date_time(at) +
                        ")",
                    data});
    events_.add();
  }

  // Writes only a changed value (to the second), so a steady prediction does not produce a
  // twin change per sample.
  // `value` is a dateTime text (quoted here), or a JSON number when `number` is set.
  void write(std::string_view twin, const std::string& path, const std::string& value,
             Timestamp time, std::string& last, bool is_number = false) {
    if (value == last) return;
    Status st = twins_.set_derived(twin, path, is_number ? value : "\"" + value + "\"", time);
    if (!st) {
      if (!write_warned_) {
        write_warned_ = true;
        log_.warn("prediction not written", {{"twin", twin}, {"error", st.to_string()}});
      }
      return;
    }
    last = value;
  }

  // "<t> <y> <t> <y> ..."
  void persist(std::size_t p, std::string_view twin, const Series& s) {
    std::string v;
    for (const auto& [t, y] : s.samples)
      v += std::to_string(t) + " " + sdk::json_number(y) + " ";
    (void)twins_.state_put(configs_[p].name + "/" + std::string(twin), v);
  }

  void restore(std::string_view key, std::string_view value) {
    const auto slash = key.find('/');
    if (slash == std::string_view::npos) return;
    std::string_view name = key.substr(0, slash);
    std::size_t p = 0;
    while (p < configs_.size() && configs_[p].name != name)
      ++p;
    if (p == configs_.size()) return;
    Series& s = series_[p][std::string(key.substr(slash + 1))];
    const char* at = value.data();
    const char* end = value.data() + value.size();
    while (at < end) {
      Timestamp t = 0;
      double y = 0;
      auto r1 = std::from_chars(at, end, t);
      if (r1.ec != std::errc() || r1.ptr >= end) break;
      auto r2 = std::from_chars(r1.ptr + 1, end, y);
      if (r2.ec != std::errc()) break;
      s.samples.emplace_back(t, y);
      at = r2.ptr + 1;
    }
    while (s.samples.size() > configs_[p].max_samples)
      s.samples.pop_front();
  }

  TwinAccess& twins_;
  Logger& log_;
  Counter& estimates_;
  Counter& events_;
  Counter& late_;
  std::vector<PredictionConfig> configs_;
  std::vector<std::unordered_map<std::string, Series>> series_;
  std::map<std::size_t, std::unordered_map<std::string, bool>> applies_;
  bool write_warned_ = false;
};

constexpr ConfigField kFields[] = {
    {"predictions", ConfigNode::Type::kList, true, "",
     "[{on, telemetry, threshold, property, direction, method, window, ...}]"},
};

const PluginDescriptor kDescriptor{
    DOPPEL_SDK_ABI_MAJOR,
    DOPPEL_SDK_ABI_MINOR,
    DOPPEL_SDK_TOOLCHAIN,
    PluginKind::kAnalytics,
    "predict",
    "1.0.0",
    "trend-based time-to-threshold (robust linear / exponential fit) as a derived property",
    kFields,
    sizeof kFields / sizeof kFields[0],
    [](const PluginContext& c) noexcept -> Plugin* {
      return create_plugin<PredictPlugin>(c, "predict", kNeedsTwins | kNeedsLog | kNeedsMetrics);
    },
    destroy_plugin};

}  // namespace
}  // namespace doppel::plugins::predict

DOPPEL_PLUGIN_ENTRY(doppel::plugins::predict::kDescriptor)
