#include "rule_engine.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

namespace doppel::plugins::rules {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Durable state keys (private to this plugin instance):
//   r/<rule>\0<twin>  -> "<since> <active> <last_action>"   (written on every transition)
//   w/<twin>          -> "<slot> <time> <value> ...\n" per windowed slot (ticks and stop)
std::string rule_key(const std::string& rule, const std::string& twin) {
  std::string k = "r/" + rule;
  k += '\0';
  k += twin;
  return k;
}

void append_number(std::string& out, double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  out += buf;
}

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    out += c;
  }
  return out + '"';
}

}  // namespace

void RuleEngine::CommandDone::done(const sdk::Status& s, std::string_view) noexcept {
  if (s) return;
  failed->add();
  log->warn("rule command failed", {{"error", s.to_string()}});
}

RuleEngine::RuleEngine(sdk::TwinAccess& twins, sdk::Metrics& metrics, sdk::Logger& log,
                       const sdk::Clock& clock, std::string_view instance)
    : twins_(twins),
      log_(log),
      clock_(clock),
      evaluations_(metrics.counter("doppel_rules_evaluations_total",
                                   "plugin=" + std::string(instance), "Rule conditions evaluated")),
      late_(metrics.counter("doppel_rules_late_samples_total", "plugin=" + std::string(instance),
                            "Samples older than the allowed lateness, ignored")),
      raised_(metrics.counter("doppel_rules_alerts_raised_total", "plugin=" + std::string(instance),
                              "Alerts raised by rules")),
      cleared_(metrics.counter("doppel_rules_alerts_cleared_total",
                               "plugin=" + std::string(instance), "Alerts cleared by rules")),
      actions_(metrics.counter("doppel_rules_actions_total", "plugin=" + std::string(instance),
                               "Rule actions run (commands and desired values)")),
      action_failures_(metrics.counter("doppel_rules_action_failures_total",
                                       "plugin=" + std::string(instance),
                                       "Rule actions that failed")) {
  command_done_.failed = &action_failures_;
  command_done_.log = &log_;
}

RuleEngine::~RuleEngine() = default;

void RuleEngine::configure(RulesConfig config) {
  config_ = std::move(config);
  window_span_.assign(config_.slots.size(), 0);
  for (const Rule& r : config_.rules) {
    for (const Program* p : {&r.when, &r.clear})
      for (const WindowRef& w : p->windows)
        window_span_[static_cast<std::size_t>(w.slot)] =
            std::max(window_span_[static_cast<std::size_t>(w.slot)], w.span);
    any_related_ = any_related_ || r.uses_related;
    any_stale_ = any_stale_ || r.uses_stale;
  }
  scratch_numbers_.assign(config_.slots.size(), kNaN);
  scratch_texts_.assign(config_.slots.size(), {});
}

sdk::Status RuleEngine::start() {
  auto restore = [this](std::string_view key, std::string_view value) {
    if (key.starts_with("r/")) {
      std::size_t zero = key.find('\0');
      if (zero == std::string_view::npos) return;
      RuleState s;
      long long since = 0, last = 0;
      int active = 0;
      std::string v(value);
      if (std::sscanf(v.c_str(), "%lld %d %lld", &since, &active, &last) != 3) return;
      s.since = since;
      s.active = active != 0;
      s.last_action = last;
      restored_[{std::string(key.substr(2, zero - 2)), std::string(key.substr(zero + 1))}] = s;
    } else if (key.starts_with("w/")) {
      restored_windows_[std::string(key.substr(2))] = std::string(value);
    }
  };
  if (sdk::Status s = sdk::scan_state(twins_, "", restore); !s)
    log_.warn("rules: no durable state, starting fresh", {{"error", s.to_string()}});
  // Every twin the rules watch, with its current values: rules over properties set in the
  // deployment, staleness and restored durations work before the first message.
  for (const Rule& r : config_.rules)
    for (const std::string& id : sdk::twin_ids_of(twins_, r.on))
      twin(id, {});
  return {};
}

void RuleEngine::stop() {
  for (TwinState* t : order_)
    if (t->windows_dirty) save_windows(*t);
  flush_counts();
}

const std::vector<int>& RuleEngine::rules_for(const std::string& model) {
  auto it = model_rules_.find(model);
  if (it != model_rules_.end()) return it->second;
  std::vector<int> list;
  for (std::size_t i = 0; i < config_.rules.size(); ++i)
    if (twins_.model_is(model, config_.rules[i].on)) list.push_back(static_cast<int>(i));
  return model_rules_.emplace(model, std::move(list)).first->second;
}

RuleEngine::TwinState* RuleEngine::twin(std::string_view id, std::string_view model) {
  if (auto it = twins_by_id_.find(id); it != twins_by_id_.end()) return it->second.get();
  auto t = std::make_unique<TwinState>();
  t->id = std::string(id);
  t->model = std::string(model);
  const std::size_t n = config_.slots.size();
  t->numbers.assign(n, kNaN);
  t->texts.assign(n, {});
  t->times.assign(n, kNever);
  t->windows.resize(n);
  t->rules.resize(config_.rules.size());
  struct Read final : sdk::TwinVisitor {
    TwinState* t;
    const SlotTable* slots;
    void visit(const sdk::TwinSnapshot& s) noexcept override {
      try {
        if (t->model.empty()) t->model = std::string(s.model);
        t->stale = s.stale;
        // Not taken into `latest`: the snapshot may already hold samples whose changes are
        // still queued for this engine, and those must not count as late.
        if (s.last_data_at > 0) t->seen_at = s.last_data_at;
        for (const sdk::SlotSnapshot& slot : s.slots) {
          int i = slots->find(slot.path);
          if (i < 0 || slot.reported.kind == sdk::FieldValue::Kind::kNull) continue;
          const auto k = static_cast<std::size_t>(i);
          if (slot.reported.kind == sdk::FieldValue::Kind::kString)
            t->texts[k] = std::string(slot.reported.text);
          else if (slot.reported.kind == sdk::FieldValue::Kind::kBool)
            t->numbers[k] = slot.reported.boolean ? 1 : 0;
          else if (slot.reported.is_numeric())
            t->numbers[k] = slot.reported.number;
          t->times[k] = slot.reported_at;
        }
      } catch (...) {
      }
    }
  } read;
  read.t = t.get();
  read.slots = &config_.slots;
  twins_.read(id, read);
  if (t->model.empty()) return nullptr;  // deleted meanwhile
  // Staleness counts from the twin's last data, or from when we first saw it. Event times are
  // compared with each other only (lateness), never with this clock.
  if (t->seen_at == kNever) t->seen_at = clock_.now();
  t->applicable = &rules_for(t->model);
  for (int r : *t->applicable) {
    auto it = restored_.find({config_.rules[static_cast<std::size_t>(r)].name, t->id});
    if (it != restored_.end()) t->rules[static_cast<std::size_t>(r)] = it->second;
  }
  if (auto it = restored_windows_.find(t->id); it != restored_windows_.end())
    restore_windows(*t, it->second);
  TwinState* out = t.get();
  order_.push_back(out);
  twins_by_id_.emplace(out->id, std::move(t));
  return out;
}

EvalInput RuleEngine::input(const TwinState& t, Timestamp at) const {
  EvalInput in;
  in.numbers = t.numbers.data();
  in.texts = t.texts.data();
  in.now = at;
  in.last_data = t.latest != kNever ? std::max(t.latest, t.seen_at) : t.seen_at;
  in.stale = t.stale;
  in.sources = this;
  return in;
}

void RuleEngine::on_changes(std::span<const sdk::TwinChange> changes) noexcept {
  try {
    for (const sdk::TwinChange& c : changes) {
      switch (c.kind) {
        case sdk::TwinChangeKind::kDeleted: {
          auto it = twins_by_id_.find(c.twin);
          if (it == twins_by_id_.end()) break;
          TwinState* t = it->second.get();
          for (int r : *t->applicable)
            (void)twins_.state_erase(
                rule_key(config_.rules[static_cast<std::size_t>(r)].name, t->id));
          (void)twins_.state_erase("w/" + t->id);
          order_.erase(std::find(order_.begin(), order_.end(), t));
          twins_by_id_.erase(it);
          break;
        }
        case sdk::TwinChangeKind::kReported: {
          TwinState* t = twin(c.twin, c.model);
          if (!t) break;
          apply(*t, c);
          if (!t->applicable->empty())
            for (int r : *t->applicable)
              evaluate(*t, static_cast<std::size_t>(r),
                       t->latest != kNever ? t->latest : t->seen_at);
          if (any_related_)
            evaluate_related_sources(c.twin, t->latest != kNever ? t->latest : t->seen_at);
          break;
        }
        case sdk::TwinChangeKind::kStale: {
          TwinState* t = twin(c.twin, c.model);
          if (!t) break;
          t->stale = c.stale;
          for (int r : *t->applicable)
            if (config_.rules[static_cast<std::size_t>(r)].uses_stale)
              evaluate(*t, static_cast<std::size_t>(r), std::max(t->latest, c.at));
          break;
        }
        case sdk::TwinChangeKind::kCreated:
          twin(c.twin, c.model);
          break;
        case sdk::TwinChangeKind::kRelationships: {
          TwinState* t = twin(c.twin, c.model);
          if (!t) break;
          for (int r : *t->applicable)
            if (config_.rules[static_cast<std::size_t>(r)].uses_related)
              evaluate(*t, static_cast<std::size_t>(r),
                       t->latest != kNever ? t->latest : t->seen_at);
          break;
        }
        default:
          break;
      }
    }
    flush_counts();
  } catch (const std::exception& e) {
    log_.error("rules: a batch of changes failed", {{"error", e.what()}});
  }
}

void RuleEngine::apply(TwinState& t, const sdk::TwinChange& c) {
  for (const sdk::ChangedSlot& s : c.slots) {
    const Timestamp time = s.time;
    // Older than the allowed lateness: ignored (and counted), so a replay decides the same way.
    if (t.latest != kNever && time < t.latest - config_.lateness) {
      ++pending_late_;
      continue;
    }
    int i = config_.slots.find(s.path);
    if (i < 0) {
      t.latest = std::max(t.latest, time);  // any data counts for staleness
      continue;
    }
    const auto k = static_cast<std::size_t>(i);
    double number = kNaN;
    if (s.value.kind == sdk::FieldValue::Kind::kBool)
      number = s.value.boolean ? 1 : 0;
    else if (s.value.is_numeric())
      number = s.value.number;
    if (window_span_[k] > 0 && number == number) {
      std::deque<Sample>& w = t.windows[k];
      // Late samples within the lateness go to their place in event-time order.
      auto at = std::upper_bound(w.begin(), w.end(), time,
                                 [](Timestamp v, const Sample& x) { return v < x.time; });
      w.insert(at, Sample{time, number});
      t.windows_dirty = true;
    }
    // The value of a slot is the one with the newest event time.
    if (time >= t.times[k]) {
      t.times[k] = time;
      t.numbers[k] = number;
      if (s.value.kind == sdk::FieldValue::Kind::kString)
        t.texts[k].assign(s.value.text);
      else
        t.texts[k].clear();
    }
    t.latest = std::max(t.latest, time);
  }
  // Drop what no window reaches any more.
  for (std::size_t k = 0; k < window_span_.size(); ++k) {
    if (window_span_[k] == 0) continue;
    std::deque<Sample>& w = t.windows[k];
    while (!w.empty() && w.front().time <= t.latest - window_span_[k] - config_.lateness)
      w.pop_front();
  }
}

double RuleEngine::window(const WindowRef& ref, Timestamp now) const noexcept {
  if (!current_) return kNaN;
  const std::deque<Sample>& w = current_->windows[static_cast<std::size_t>(ref.slot)];
  // The window is (now - span, now].
  const Timestamp from = now - ref.span;
  double sum = 0, lo = INFINITY, hi = -INFINITY;
  std::size_t n = 0;
  const Sample* first = nullptr;
  const Sample* last = nullptr;
  for (auto it = w.rbegin(); it != w.rend(); ++it) {
    if (it->time > now) continue;
    if (it->time <= from) break;
    ++n;
    sum += it->value;
    lo = std::min(lo, it->value);
    hi = std::max(hi, it->value);
    if (!last) last = &*it;
    first = &*it;
  }
  switch (ref.fn) {
    case WindowFn::kCount:
      return static_cast<double>(n);
    case WindowFn::kAvg:
      return n ? sum / static_cast<double>(n) : kNaN;
    case WindowFn::kMin:
      return n ? lo : kNaN;
    case WindowFn::kMax:
      return n ? hi : kNaN;
    case WindowFn::kRate:
      if (n < 2 || last->time == first->time) return kNaN;
      return (last->value - first->value) /
             (static_cast<double>(last->time - first->time) / static_cast<double>(sdk::kSecond));
  }
  return kNaN;
}

double RuleEngine::related(const RelatedRef& r, const Program& sub) const noexcept {
  if (!current_) return kNaN;
  const std::vector<std::string> related =
      sdk::related_ids(twins_, current_->id, r.relationship, false);
  struct Read final : sdk::TwinVisitor {
    const RuleEngine* e;
    const Program* sub;
    Timestamp last = 0;
    bool stale = false;
    void visit(const sdk::TwinSnapshot& s) noexcept override {
      last = s.last_data_at;
      stale = s.stale;
      for (int i : sub->slots) {
        const auto k = static_cast<std::size_t>(i);
        e->scratch_numbers_[k] = kNaN;
        e->scratch_texts_[k].clear();
        const sdk::SlotSnapshot* slot = s.slot(e->config_.slots.name(i));
        if (!slot) continue;
        const sdk::FieldValue& v = slot->reported;
        if (v.kind == sdk::FieldValue::Kind::kString)
          e->scratch_texts_[k].assign(v.text);
        else if (v.kind == sdk::FieldValue::Kind::kBool)
          e->scratch_numbers_[k] = v.boolean ? 1 : 0;
        else if (v.is_numeric())
          e->scratch_numbers_[k] = v.number;
      }
    }
  } read;
  read.e = this;
  read.sub = &sub;
  std::size_t matching = 0, total = 0;
  for (const std::string& id : related) {
    if (!twins_.read(id, read)) continue;
    EvalInput in;
    in.numbers = scratch_numbers_.data();
    in.texts = scratch_texts_.data();
    in.now = current_at_;
    in.last_data = read.last;
    in.stale = read.stale;
    ++total;
    if (holds(rules::evaluate(sub, in))) ++matching;
  }
  switch (r.fn) {
    case RelatedFn::kAny:
      return matching > 0 ? 1 : 0;
    case RelatedFn::kAll:
      return total > 0 && matching == total ? 1 : 0;
    case RelatedFn::kCount:
      return static_cast<double>(matching);
  }
  return kNaN;
}

void RuleEngine::evaluate_related_sources(std::string_view changed, Timestamp at) {
  for (std::size_t r = 0; r < config_.rules.size(); ++r) {
    const Rule& rule = config_.rules[r];
    if (!rule.uses_related) continue;
    for (const std::string& rel : rule.relationships) {
      for (const std::string& id : sdk::related_ids(twins_, changed, rel, true)) {
        TwinState* s = twin(id, {});
        if (!s) continue;
        if (std::find(s->applicable->begin(), s->applicable->end(), static_cast<int>(r)) ==
            s->applicable->end())
          continue;
        evaluate(*s, r, std::max(s->latest, at));
      }
    }
  }
}

void RuleEngine::evaluate(TwinState& t, std::size_t ri, Timestamp at) {
  const Rule& rule = config_.rules[ri];
  RuleState& st = t.rules[ri];
  current_ = &t;
  current_at_ = at;
  const EvalInput in = input(t, at);
  ++pending_evaluations_;
  const bool cond = holds(rules::evaluate(rule.when, in));
  if (st.active) {
    bool clears = !cond;
    if (rule.has_clear) {
      ++pending_evaluations_;
      clears = holds(rules::evaluate(rule.clear, in));
    }
    if (clears) {
      clear(t, ri, at);
      st.since = kNever;
      if (cond && !rule.has_clear) st.since = at;
      save(t, ri);
    }
    current_ = nullptr;
    return;
  }
  if (!cond) {
    if (st.since != kNever) {
      st.since = kNever;
      save(t, ri);
    }
    current_ = nullptr;
    return;
  }
  if (st.since == kNever) {
    st.since = at;
    if (rule.hold > 0) save(t, ri);
  }
  // Fires at the first evaluation at or after since + for.
  if (at - st.since >= rule.hold) raise(t, ri, at);
  current_ = nullptr;
}

void RuleEngine::on_tick(Timestamp now) noexcept {
  try {
    for (TwinState* t : order_) {
      for (int r : *t->applicable) {
        const auto ri = static_cast<std::size_t>(r);
        const Rule& rule = config_.rules[ri];
        RuleState& st = t->rules[ri];
        if (rule.uses_stale) {
          // Staleness changes without data: evaluated at the clock's time.
          evaluate(*t, ri, std::max(now, t->latest));
          continue;
        }
        // No contrary data arrived and none can still arrive in time (lateness): the condition
        // held for `for` of event time at since + for.
        if (!st.active && st.since != kNever && rule.hold > 0 &&
            now - config_.lateness >= st.since + rule.hold) {
          current_ = t;
          raise(*t, ri, st.since + rule.hold);
          current_ = nullptr;
        }
      }
      if (t->windows_dirty) save_windows(*t);
    }
    flush_counts();
  } catch (const std::exception& e) {
    log_.error("rules: tick failed", {{"error", e.what()}});
  }
}

std::string RuleEngine::render(const TwinState& t, const Rule& r, const std::string& text) const {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '{') {
      out += text[i];
      continue;
    }
    std::size_t end = text.find('}', i);
    if (end == std::string::npos) {
      out += text.substr(i);
      break;
    }
    std::string_view name(text.data() + i + 1, end - i - 1);
    if (name == "twin") {
      out += t.id;
    } else if (name == "rule") {
      out += r.name;
    } else if (name == "severity") {
      out += r.severity;
    } else if (int s = config_.slots.find(name); s >= 0) {
      const auto k = static_cast<std::size_t>(s);
      if (!t.texts[k].empty()) {
        out += t.texts[k];
      } else {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%g", t.numbers[k]);
        out += buf;
      }
    } else {
      out += text.substr(i, end - i + 1);
    }
    i = end;
  }
  return out;
}

std::string RuleEngine::values_json(const TwinState& t, const Rule& r) const {
  std::string out = "{\"rule\":" + json_string(r.name) + ",\"values\":{";
  bool first = true;
  for (int s : r.when.slots) {
    const auto k = static_cast<std::size_t>(s);
    if (!first) out += ',';
    first = false;
    out += json_string(config_.slots.name(s)) + ':';
    if (!t.texts[k].empty())
      out += json_string(t.texts[k]);
    else if (t.numbers[k] == t.numbers[k])
      append_number(out, t.numbers[k]);
    else
      out += "null";
  }
  return out + "}}";
}

void RuleEngine::raise(TwinState& t, std::size_t ri, Timestamp at) {
  const Rule& rule = config_.rules[ri];
  RuleState& st = t.rules[ri];
  st.active = true;
  raised_.add();
  const std::string message = render(t, rule, rule.message);
  const std::string data = values_json(t, rule);
  twins_.publish({"alert.raised", t.id, rule.name, rule.severity, at, message, data});
  if (!rule.actions.empty() && (st.last_action == kNever || at - st.last_action >= rule.cooldown)) {
    st.last_action = at;
    for (const Action& a : rule.actions) {
      actions_.add();
      if (a.kind == Action::Kind::kCommand) {
        twins_.invoke(t.id, a.component, a.name, a.json, 0, &command_done_);
      } else if (sdk::Status s = twins_.desire(t.id, a.name, a.json); !s) {
        action_failures_.add();
        log_.warn("rule could not set a desired value",
                  {{"rule", rule.name}, {"twin", t.id}, {"error", s.to_string()}});
      }
    }
  }
  save(t, ri);
}

void RuleEngine::clear(TwinState& t, std::size_t ri, Timestamp at) {
  const Rule& rule = config_.rules[ri];
  t.rules[ri].active = false;
  cleared_.add();
  const std::string message = t.id + ": " + rule.name + " cleared";
  const std::string data = values_json(t, rule);
  twins_.publish({"alert.cleared", t.id, rule.name, rule.severity, at, message, data});
}

void RuleEngine::save(const TwinState& t, std::size_t ri) {
  const RuleState& st = t.rules[ri];
  const std::string key = rule_key(config_.rules[ri].name, t.id);
  if (st.since == kNever && !st.active && st.last_action == kNever) {
    (void)twins_.state_erase(key);
    return;
  }
  char buf[80];
  std::snprintf(buf, sizeof buf, "%lld %d %lld", static_cast<long long>(st.since),
                st.active ? 1 : 0, static_cast<long long>(st.last_action));
  if (sdk::Status s = twins_.state_put(key, buf); !s)
    log_.warn("rules: state not kept", {{"twin", t.id}, {"error", s.to_string()}});
}

void RuleEngine::save_windows(TwinState& t) {
  std::string out;
  for (std::size_t k = 0; k < window_span_.size(); ++k) {
    if (window_span_[k] == 0 || t.windows[k].empty()) continue;
    out += config_.slots.name(static_cast<int>(k));
    for (const Sample& s : t.windows[k]) {
      out += ' ' + std::to_string(s.time) + ' ';
      append_number(out, s.value);
    }
    out += '\n';
  }
  (void)twins_.state_put("w/" + t.id, out);
  t.windows_dirty = false;
}

void RuleEngine::restore_windows(TwinState& t, std::string_view text) {
  std::size_t at = 0;
  while (at < text.size()) {
    std::size_t nl = text.find('\n', at);
    if (nl == std::string_view::npos) nl = text.size();
    std::string line(text.substr(at, nl - at));
    at = nl + 1;
    std::size_t sp = line.find(' ');
    int slot = config_.slots.find(std::string_view(line).substr(0, sp));
    if (slot < 0 || sp == std::string::npos) continue;
    auto& w = t.windows[static_cast<std::size_t>(slot)];
    const char* p = line.c_str() + sp;
    char* end = nullptr;
    for (;;) {
      long long time = std::strtoll(p, &end, 10);
      if (end == p) break;
      p = end;
      double v = std::strtod(p, &end);
      if (end == p) break;
      p = end;
      w.push_back({time, v});
    }
  }
}

void RuleEngine::flush_counts() {
  if (pending_evaluations_) evaluations_.add(pending_evaluations_);
  if (pending_late_) late_.add(pending_late_);
  pending_evaluations_ = pending_late_ = 0;
}

}  // namespace doppel::plugins::rules
