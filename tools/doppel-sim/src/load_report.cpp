#include "load_report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>

namespace doppel::sim {

namespace {
// Enough for percentiles of long runs; past it, every k-th sample is kept (deterministic
// thinning is fine: latencies of neighbouring messages are alike).
constexpr std::size_t kMaxSamples = 4'000'000;
}  // namespace

void LoadReport::add_latency_us(std::uint32_t us) {
  std::lock_guard lock(mu_);
  ++latency_count_;
  if (latencies_us_.size() < kMaxSamples) {
    latencies_us_.push_back(us);
  } else {
    latencies_us_[latency_count_ % kMaxSamples] = us;
  }
}

LoadReport::Snapshot LoadReport::snapshot(int qos, double elapsed_s) const {
  Snapshot s;
  s.qos = qos;
  s.elapsed_s = elapsed_s;
  s.telemetry = telemetry;
  s.published = published;
  s.completed = completed;
  s.failed = failed;
  s.dropped = dropped;
  s.reconnects = reconnects;
  s.desired_applied = desired_applied;
  s.desired_rejected = desired_rejected;
  s.commands_answered = commands_answered;
  s.commands_ignored = commands_ignored;
  s.commands_bad = commands_bad;
  std::vector<std::uint32_t> copy;
  {
    std::lock_guard lock(mu_);
    copy = latencies_us_;
    s.latency_samples = latency_count_;
  }
  if (!copy.empty()) {
    auto pct = [&](double p) {
      const auto k = static_cast<std::size_t>(p * static_cast<double>(copy.size() - 1));
      std::nth_element(copy.begin(), copy.begin() + static_cast<std::ptrdiff_t>(k), copy.end());
      return copy[k] / 1000.0;
    };
    s.p50_ms = pct(0.50);
    s.p99_ms = pct(0.99);
    s.max_ms = *std::max_element(copy.begin(), copy.end()) / 1000.0;
  }
  const auto settled = s.completed + s.failed;
  s.unconfirmed = s.published > settled ? s.published - settled : 0;
  const double base = qos > 0 ? static_cast<double>(s.completed) : static_cast<double>(s.published);
  s.rate = elapsed_s > 0 ? base / elapsed_s : 0;
  return s;
}

std::string format_text(const LoadReport::Snapshot& s) {
  std::string out;
  out += fmt::format("doppel-sim report ({:.2f} s, QoS {})\n", s.elapsed_s, s.qos);
  out += fmt::format("  telemetry sent      {}\n", s.telemetry);
  out += fmt::format("  messages sent       {}\n", s.published);
  if (s.qos > 0) {
    out += fmt::format("  acknowledged        {}\n", s.completed);
  } else {
    out += fmt::format("  written (QoS 0)     {}\n", s.completed);
  }
  out += fmt::format("  failed              {}\n", s.failed);
  out += fmt::format("  unconfirmed         {}\n", s.unconfirmed);
  out += fmt::format("  dropped             {}\n", s.dropped);
  out += fmt::format("  achieved rate       {:.1f} msg/s ({})\n", s.rate,
                     s.qos > 0 ? "acknowledged" : "sent");
  if (s.latency_samples > 0) {
    out += fmt::format("  {:<20}p50 {:.3f} ms, p99 {:.3f} ms, max {:.3f} ms\n",
                       s.qos > 0 ? "ack latency" : "write latency", s.p50_ms, s.p99_ms, s.max_ms);
  }
  out += fmt::format("  reconnects          {}\n", s.reconnects);
  out += fmt::format("  desired applied     {} (rejected {})\n", s.desired_applied,
                     s.desired_rejected);
  out += fmt::format("  commands answered   {} (ignored {}, bad {})\n", s.commands_answered,
                     s.commands_ignored, s.commands_bad);
  return out;
}

std::string format_json(const LoadReport::Snapshot& s) {
  nlohmann::json j = {
      {"elapsed_s", s.elapsed_s},
      {"qos", s.qos},
      {"telemetry", s.telemetry},
      {"sent", s.published},
      {"acknowledged", s.qos > 0 ? s.completed : 0},
      {"written", s.completed},
      {"failed", s.failed},
      {"unconfirmed", s.unconfirmed},
      {"dropped", s.dropped},
      {"rate", s.rate},
      {"latency_ms", {{"p50", s.p50_ms}, {"p99", s.p99_ms}, {"max", s.max_ms}}},
      {"latency_samples", s.latency_samples},
      {"reconnects", s.reconnects},
      {"desired", {{"applied", s.desired_applied}, {"rejected", s.desired_rejected}}},
      {"commands",
       {{"answered", s.commands_answered},
        {"ignored", s.commands_ignored},
        {"bad", s.commands_bad}}},
  };
  return j.dump(2) + "\n";
}

std::string format_progress(const LoadReport::Snapshot& s) {
  return fmt::format(
      "doppel-sim: {:.0f} s: {} telemetry, {} sent, {} {}, {} failed, {} dropped, {:.0f} msg/s\n",
      s.elapsed_s, s.telemetry, s.published, s.completed, s.qos > 0 ? "acked" : "written", s.failed,
      s.dropped, s.rate);
}

}  // namespace doppel::sim
