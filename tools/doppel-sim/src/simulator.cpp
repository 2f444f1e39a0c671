#include "simulator.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <queue>

#include "cbor.hpp"

namespace doppel::sim {

Simulator::Simulator(const SimOptions& options, std::vector<std::unique_ptr<Device>> devices)
    : o_(options),
      devices_(std::move(devices)),
      telemetry_topic_(options.telemetry_topic),
      reported_topic_(options.reported_topic),
      desired_topic_(options.desired_topic),
      ack_topic_(options.ack_topic),
      command_topic_(options.effective_command_topic()),
      response_topic_(options.response_topic) {
  for (auto& d : devices_) {
    by_id_[d->id()] = d.get();
    by_desired_topic_[desired_topic_.expand({{"twin", d->id()}})] = d.get();
    telemetry_topics_.push_back(telemetry_topic_.expand({{"twin", d->id()}}));
    coap_telemetry_paths_.push_back(
        TopicTemplate(options.coap_telemetry_path).expand({{"twin", d->id()}}));
    coap_properties_paths_.push_back(
        TopicTemplate(options.coap_properties_path).expand({{"twin", d->id()}}));
  }
  last_telemetry_.resize(devices_.size());
}

bool Simulator::wait_until(Clock::time_point deadline) {
  return coap_ ? coap_->process_until(deadline) : stop_.sleep_until(deadline);
}

double Simulator::sim_seconds() const {
  const std::chrono::duration<double> wall =
      Clock::now() - Clock::time_point(Clock::duration(sim_origin_.load()));
  return wall.count() * o_.time_scale;
}

std::int64_t Simulator::timestamp_ms() const {
  if (o_.timestamps == SimOptions::Timestamps::kWall) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  return started_epoch_ms_ + static_cast<std::int64_t>(sim_seconds() * 1000.0);
}

LoadReport::Snapshot Simulator::snapshot() const {
  const auto end = finished_ == Clock::time_point{} ? Clock::now() : finished_;
  const std::chrono::duration<double> elapsed = end - measured_from_;
  // CoAP requests complete with their response, CON or NON: the report counts those like
  // QoS 1 acknowledgements. A server only (notifications) is counted like QoS 0.
  const int qos = o_.uses_coap() ? (o_.coap.empty() ? 0 : 1) : o_.qos;
  return report_.snapshot(qos, measured_from_ == Clock::time_point{} ? 0 : elapsed.count());
}

void Simulator::handle_message(const InboundMessage& msg) {
  if (auto it = by_desired_topic_.find(msg.topic); it != by_desired_topic_.end()) {
    handle_desired(*it->second, msg);
    return;
  }
  if (auto m = command_topic_.match(msg.topic)) {
    auto dev = by_id_.find((*m)["twin"]);
    if (dev != by_id_.end()) {
      handle_command(*dev->second, (*m)["name"], (*m)["correlation"], msg);
      return;
    }
  }
  // Another simulator's device, or a reply we see because of an overlapping filter.
}

void Simulator::handle_desired(Device& device, const InboundMessage& msg) {
  auto r = device.apply_desired(msg.payload, sim_seconds());
  if (!r.ok) {
    ++report_.desired_rejected;
    std::fprintf(stderr, "doppel-sim: %s: desired message refused: %s\n", device.id().c_str(),
                 r.error.c_str());
    return;
  }
  ++report_.desired_applied;
  const std::map<std::string, std::string> vars{{"twin", device.id()}};
  link_->publish(ack_topic_.expand(vars), r.ack_json, o_.qos, false);
  link_->publish(reported_topic_.expand(vars), r.reported_json, o_.qos, false);
}

void Simulator::handle_command(Device& device, const std::string& name,
                               const std::string& correlation, const InboundMessage& msg) {
  bool known = false;
  auto response = device.command_response(name, known);
  if (!known) {
    ++report_.commands_bad;
    std::fprintf(stderr, "doppel-sim: %s: unknown command '%s'\n", device.id().c_str(),
                 name.c_str());
    return;
  }
  if (!response) {
    ++report_.commands_ignored;  // --no-respond: a dead device
    return;
  }
  if (o_.protocol == 5) {
    if (!msg.response_topic || msg.response_topic->empty()) {
      ++report_.commands_bad;
      std::fprintf(stderr, "doppel-sim: %s: command '%s' has no response topic\n",
                   device.id().c_str(), name.c_str());
      return;
    }
    link_->publish(*msg.response_topic, *response, o_.qos, false, msg.correlation);
  } else {
    link_->publish(response_topic_.expand(
                       {{"twin", device.id()}, {"name", name}, {"correlation", correlation}}),
                   *response, o_.qos, false);
  }
  ++report_.commands_answered;
}

void Simulator::publish_reported_all() {
  const double t = sim_seconds();
  if (coap_) {
    for (std::size_t i = 0; i < devices_.size(); ++i) {
      if (!o_.coap.empty()) {
        if (auto doc = devices_[i]->reported_json(t))
          coap_->post(coap_properties_paths_[i], coap_body(*doc),
                      o_.coap_cbor ? kCoapFormatCbor : kCoapFormatJson, false);
      }
      coap_->notify_properties(i);
    }
    return;
  }
  for (auto& d : devices_) {
    if (auto doc = d->reported_json(t))
      link_->publish(reported_topic_.expand({{"twin", d->id()}}), *doc, o_.qos, false);
  }
}

void Simulator::publish_telemetry(std::size_t index) {
  Device& device = *devices_[index];
  std::optional<std::int64_t> ts;
  if (o_.timestamps != SimOptions::Timestamps::kNone) ts = timestamp_ms();
  if (coap_) {
    last_telemetry_[index] = device.telemetry_json(sim_seconds(), ts);
    bool sent = true;
    if (!o_.coap.empty()) {
      sent = coap_->post(coap_telemetry_paths_[index], coap_body(last_telemetry_[index]),
                         o_.coap_cbor ? kCoapFormatCbor : kCoapFormatJson, true);
    }
    if (!o_.coap_listen.empty()) {
      coap_->notify_telemetry(index);
      coap_->process_until(Clock::now());  // sends the notifications without waiting
    }
    if (sent) ++report_.telemetry;
    return;
  }
  if (link_->publish(telemetry_topics_[index], device.telemetry_json(sim_seconds(), ts), o_.qos,
                     true))
    ++report_.telemetry;
}

bool Simulator::limits_reached() const {
  if (o_.messages && report_.telemetry >= *o_.messages) return true;
  if (o_.duration_s) {
    const std::chrono::duration<double> elapsed = Clock::now() - measured_from_;
    if (elapsed.count() >= *o_.duration_s) return true;
  }
  return false;
}

void Simulator::maybe_progress() {
  if (o_.quiet || o_.progress_s <= 0) return;
  const auto now = Clock::now();
  if (now < next_progress_) return;
  next_progress_ = now + std::chrono::duration_cast<Clock::duration>(
                             std::chrono::duration<double>(o_.progress_s));
  std::fputs(format_progress(snapshot()).c_str(), stderr);
}

void Simulator::run_scheduled() {
  struct Due {
    Clock::time_point at;
    std::size_t device;
    bool operator>(const Due& other) const { return at > other.at; }
  };
  std::priority_queue<Due, std::vector<Due>, std::greater<>> queue;
  auto wall = [&](double sim_s) {
    return std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(sim_s / o_.time_scale));
  };
  for (std::size_t i = 0; i < devices_.size(); ++i) {
    // Stagger first messages over one interval so a fleet does not publish in bursts.
    Random rng(derive_seed(o_.seed.value_or(0), devices_[i]->id(), "@offset"));
    queue.push({started_ + wall(devices_[i]->interval_s() * rng.uniform()), i});
  }
  auto next_report =
      o_.report_interval_s > 0 ? started_ + wall(o_.report_interval_s) : Clock::time_point::max();
  const auto deadline = o_.duration_s
                            ? measured_from_ + std::chrono::duration_cast<Clock::duration>(
                                                   std::chrono::duration<double>(*o_.duration_s))
                            : Clock::time_point::max();
  while (!stop_.requested() && !limits_reached()) {
    auto due = queue.top();
    const auto wake = std::min({due.at, next_report, deadline, next_progress_});
    if (wake > Clock::now() && !wait_until(wake)) break;
    maybe_progress();
    if (Clock::now() >= next_report) {
      publish_reported_all();
      next_report += wall(o_.report_interval_s);
    }
    if (Clock::now() < due.at) continue;
    queue.pop();
    publish_telemetry(due.device);
    // Fixed-rate schedule: the next slot follows the previous one, not "now", so delays do
    // not accumulate into a lower rate.
    due.at += wall(devices_[due.device]->interval_s());
    queue.push(due);
  }
}

void Simulator::run_paced(double rate) {
  // Token bucket holding up to 100 ms of messages: sleeps stay coarse enough for the OS timer,
  // and a publisher descheduled for a while (a busy machine) catches up instead of losing rate.
  const double burst = std::max(1.0, rate / 10.0);
  double tokens = 1;
  auto last = Clock::now();
  std::size_t next = 0;
  while (!stop_.requested() && !limits_reached()) {
    if (rate > 0) {
      const auto now = Clock::now();
      tokens = std::min(burst, tokens + std::chrono::duration<double>(now - last).count() * rate);
      last = now;
      if (tokens < 1) {
        maybe_progress();
        const auto wait = std::chrono::duration<double>((1 - tokens) / rate);
        if (!wait_until(now + std::chrono::duration_cast<Clock::duration>(wait))) break;
        continue;
      }
      tokens -= 1;
    }
    publish_telemetry(next);
    next = (next + 1) % devices_.size();
    maybe_progress();
  }
}

int Simulator::run() {
  return o_.uses_coap() ? run_coap() : run_mqtt();
}

int Simulator::run_mqtt() {
  LinkSettings ls;
  ls.broker = o_.broker;
  ls.client_id = o_.client_id.empty() ? "doppel-sim-" + std::to_string(::getpid()) : o_.client_id;
  ls.protocol = o_.protocol;
  ls.window = o_.effective_window();
  ls.buffer = o_.buffer;
  ls.connect_retries = o_.connect_retries;
  link_ = std::make_unique<MqttLink>(ls, report_, stop_);

  std::vector<std::string> filters;
  for (const auto& d : devices_) {
    filters.push_back(desired_topic_.expand({{"twin", d->id()}}));
    filters.push_back(command_topic_.filter({{"twin", d->id()}}));
  }
  link_->set_subscriptions(std::move(filters));
  link_->on_message([this](const InboundMessage& m) { handle_message(m); });
  // Properties are state: a device reports all of them whenever it (re)connects.
  link_->on_connected([this](bool) { publish_reported_all(); });

  started_ = Clock::now();
  sim_origin_ = started_.time_since_epoch().count();
  started_epoch_ms_ = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  std::string error;
  if (!link_->connect(error)) {
    if (stop_.requested()) return 0;
    std::fprintf(stderr,
                 "doppel-sim: error: cannot connect to %s: %s (is a broker listening there? "
                 "see --broker, --connect-retries)\n",
                 o_.broker.c_str(), error.c_str());
    return 1;
  }
  run_loops();
  link_->drain(std::chrono::milliseconds(static_cast<std::int64_t>(o_.drain_s * 1000)));
  finished_ = Clock::now();
  link_->disconnect();
  return 0;
}

void Simulator::run_loops() {
  // Measure from the first possible publish, not from connection setup; simulated time starts
  // there too, so a slow connect does not eat into a compressed timeline.
  measured_from_ = Clock::now();
  started_ = measured_from_;
  sim_origin_ = started_.time_since_epoch().count();
  next_progress_ = (o_.quiet || o_.progress_s <= 0)
                       ? Clock::time_point::max()
                       : measured_from_ + std::chrono::duration_cast<Clock::duration>(
                                              std::chrono::duration<double>(o_.progress_s));
  if (coap_ && o_.duration_s) {
    coap_->set_deadline(measured_from_ + std::chrono::duration_cast<Clock::duration>(
                                             std::chrono::duration<double>(*o_.duration_s)));
  }
  if (o_.rate) {
    run_paced(*o_.rate);
  } else {
    run_scheduled();
  }
}

std::string Simulator::coap_body(const std::string& json_text) const {
  if (!o_.coap_cbor) return json_text;
  return cbor_encode(nlohmann::json::parse(json_text));
}

CoapReply Simulator::coap_get_telemetry(std::size_t index) {
  if (last_telemetry_[index].empty()) {
    std::optional<std::int64_t> ts;
    if (o_.timestamps != SimOptions::Timestamps::kNone) ts = timestamp_ms();
    last_telemetry_[index] = devices_[index]->telemetry_json(sim_seconds(), ts);
  }
  return {205, coap_body(last_telemetry_[index]), o_.coap_cbor ? kCoapFormatCbor : kCoapFormatJson};
}

CoapReply Simulator::coap_get_properties(std::size_t index) {
  auto doc = devices_[index]->reported_json(sim_seconds());
  return {205, coap_body(doc.value_or("{}")), o_.coap_cbor ? kCoapFormatCbor : kCoapFormatJson};
}

// Any JSON is accepted (the plugin decides the exact shape): the simulator's own
// {"name", "component"?, "value", "version"} and a patch {"<property>": value, ...,
// "<component>": {"<property>": value}, "version": N}. Properties the model does not have or
// values it refuses are logged and counted; the answer is 2.04 with {"version": N} when the
// request carried a numeric version.
CoapReply Simulator::coap_desired(std::size_t index, const std::string& payload) {
  using json = nlohmann::json;
  Device& device = *devices_[index];
  const json doc = json::parse(payload, nullptr, false);
  if (doc.is_discarded()) return {400, R"({"error":"the payload is not JSON"})", kCoapFormatJson};
  const double t = sim_seconds();
  std::vector<std::string> reported;
  auto apply = [&](const json& message) {
    auto r = device.apply_desired(message.dump(), t);
    if (r.ok) {
      ++report_.desired_applied;
      reported.push_back(r.reported_json);
    } else {
      ++report_.desired_rejected;
      std::fprintf(stderr, "doppel-sim: %s: desired value refused: %s\n", device.id().c_str(),
                   r.error.c_str());
    }
    return r.ok;
  };
  const json* version = nullptr;
  if (doc.is_object()) {
    for (const char* key : {"version", "$version"}) {
      if (auto it = doc.find(key); it != doc.end() && it->is_number()) {
        version = &*it;
        break;
      }
    }
    if (doc.contains("name") && doc.contains("value")) {
      apply(doc);
    } else {
      for (const auto& [key, value] : doc.items()) {
        if (key == "version" || key == "$version" || key == "$metadata") continue;
        json m = {{"name", key}, {"value", value}};
        if (version != nullptr) m["version"] = *version;
        if (device.apply_desired(m.dump(), t).ok) {
          ++report_.desired_applied;
          reported.push_back(device.reported_json(t).value_or("{}"));
          continue;
        }
        if (value.is_object()) {  // a component's properties
          for (const auto& [inner, v] : value.items()) {
            json c = {{"component", key}, {"name", inner}, {"value", v}};
            if (version != nullptr) c["version"] = *version;
            apply(c);
          }
        } else {
          apply(m);  // refused again: logged and counted this time
        }
      }
    }
  } else {
    ++report_.desired_rejected;
    std::fprintf(stderr, "doppel-sim: %s: desired payload is not an object: %s\n",
                 device.id().c_str(), payload.substr(0, 200).c_str());
  }
  if (!reported.empty()) {
    // The device reports what it applied, like over MQTT, and tells its observers.
    if (!o_.coap.empty()) {
      for (const auto& r : reported)
        coap_->post(coap_properties_paths_[index], coap_body(r),
                    o_.coap_cbor ? kCoapFormatCbor : kCoapFormatJson, false);
    }
    coap_->notify_properties(index);
  }
  return {204, version != nullptr ? json{{"version", *version}}.dump() : std::string(),
          kCoapFormatJson};
}

CoapReply Simulator::coap_command(std::size_t index, const std::string& name,
                                  const std::string& payload) {
  Device& device = *devices_[index];
  if (!payload.empty() && nlohmann::json::parse(payload, nullptr, false).is_discarded()) {
    ++report_.commands_bad;
    return {400, R"({"error":"the request payload is not JSON"})", kCoapFormatJson};
  }
  bool known = false;
  auto response = device.command_response(name, known);
  if (!known) {
    ++report_.commands_bad;
    return {404, R"({"error":"unknown command"})", kCoapFormatJson};
  }
  if (!response) {
    ++report_.commands_ignored;  // --no-respond: a dead device
    CoapReply silent;
    silent.silent = true;
    return silent;
  }
  ++report_.commands_answered;
  return {204, *response, kCoapFormatJson};
}

int Simulator::run_coap() {
  CoapSettings cs;
  cs.uri = o_.coap;
  cs.listen = o_.coap_listen;
  cs.confirmable = o_.coap_con;
  cs.window = o_.window > 0 ? o_.window : 20;
  cs.silent_after_s = o_.coap_silent_after_s;
  if (!o_.coap_silent_devices.empty()) {
    for (const auto& d : devices_)
      cs.silent_devices.push_back(glob_match(o_.coap_silent_devices, d->id()));
  }
  coap_ = std::make_unique<CoapLink>(cs, report_, stop_);
  if (!o_.coap_listen.empty()) {
    const TopicTemplate desired(o_.coap_desired_path), command(o_.coap_command_path);
    std::vector<CoapDevicePaths> paths;
    for (std::size_t i = 0; i < devices_.size(); ++i) {
      const auto& id = devices_[i]->id();
      CoapDevicePaths p{
          coap_telemetry_paths_[i], coap_properties_paths_[i], desired.expand({{"twin", id}}), {}};
      for (const auto& name : devices_[i]->command_names())
        p.commands.emplace_back(name, command.expand({{"twin", id}, {"name", name}}));
      paths.push_back(std::move(p));
    }
    CoapServerHandlers h;
    h.telemetry = [this](std::size_t i) { return coap_get_telemetry(i); };
    h.properties = [this](std::size_t i) { return coap_get_properties(i); };
    h.desired = [this](std::size_t i, const std::string& p) { return coap_desired(i, p); };
    h.command = [this](std::size_t i, const std::string& n, const std::string& p) {
      return coap_command(i, n, p);
    };
    coap_->set_server(std::move(h), std::move(paths));
  }
  started_ = Clock::now();
  sim_origin_ = started_.time_since_epoch().count();
  started_epoch_ms_ = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  std::string error;
  if (!coap_->start(error)) {
    std::fprintf(stderr, "doppel-sim: error: %s\n", error.c_str());
    return 1;
  }
  publish_reported_all();
  run_loops();
  coap_->drain(std::chrono::milliseconds(static_cast<std::int64_t>(o_.drain_s * 1000)));
  finished_ = Clock::now();
  return 0;
}

}  // namespace doppel::sim
