// Runs configured rules over twin changes: keeps each twin's latest values and windows, tracks
// durations in event time, raises and clears alerts once, runs actions with a cooldown, and keeps
// its state in the plugin's durable state so a restart resumes where it stopped.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "doppel/sdk/log.hpp"
#include "doppel/sdk/metrics.hpp"
#include "doppel/sdk/twins.hpp"
#include "rule_config.hpp"

namespace doppel::plugins::rules {

constexpr Timestamp kNever = INT64_MIN;

class RuleEngine final : public EvalSources {
 public:
  RuleEngine(sdk::TwinAccess& twins, sdk::Metrics& metrics, sdk::Logger& log,
             const sdk::Clock& clock, std::string_view instance);
  ~RuleEngine() override;

  void configure(RulesConfig config);
  // Loads the twins the rules watch and the state kept before a restart.
  sdk::Status start();
  // Writes what is only kept in memory (window contents) to the durable state.
  void stop();

  void on_changes(std::span<const sdk::TwinChange> changes) noexcept;
  void on_tick(Timestamp now) noexcept;

  double window(const WindowRef& w, Timestamp now) const noexcept override;
  double related(const RelatedRef& r, const Program& sub) const noexcept override;

 private:
  struct Sample {
    Timestamp time;
    double value;
  };
  struct RuleState {
    Timestamp since = kNever;  // the condition holds since (event time); kNever: it does not
    Timestamp last_action = kNever;
    bool active = false;  // alert raised and not yet cleared
  };
  struct TwinState {
    std::string id;
    std::string model;
    std::vector<double> numbers;
    std::vector<std::string> texts;
    std::vector<Timestamp> times;
    std::vector<std::deque<Sample>> windows;  // by slot; empty unless some rule windows it
    std::vector<RuleState> rules;             // by rule index
    const std::vector<int>* applicable = nullptr;
    Timestamp latest = kNever;   // newest event time of the samples this engine applied
    Timestamp seen_at = kNever;  // when the engine first saw the twin (for staleness only)
    bool stale = false;
    bool windows_dirty = false;
  };
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };
  struct CommandDone final : sdk::CommandCallback {
    sdk::Counter* failed = nullptr;
    sdk::Logger* log = nullptr;
    void done(const sdk::Status& s, std::string_view) noexcept override;
  };

  TwinState* twin(std::string_view id, std::string_view model);
  const std::vector<int>& rules_for(const std::string& model);
  void apply(TwinState& t, const sdk::TwinChange& c);
  void evaluate(TwinState& t, std::size_t rule, Timestamp at);
  void evaluate_related_sources(std::string_view changed, Timestamp at);
  void raise(TwinState& t, std::size_t rule, Timestamp at);
  void clear(TwinState& t, std::size_t rule, Timestamp at);
  void save(const TwinState& t, std::size_t rule);
  void save_windows(TwinState& t);
  void restore_windows(TwinState& t, std::string_view text);
  std::string render(const TwinState& t, const Rule& r, const std::string& text) const;
  std::string values_json(const TwinState& t, const Rule& r) const;
  EvalInput input(const TwinState& t, Timestamp at) const;
  void flush_counts();

  sdk::TwinAccess& twins_;
  sdk::Logger& log_;
  const sdk::Clock& clock_;
  sdk::Counter& evaluations_;
  sdk::Counter& late_;
  sdk::Counter& raised_;
  sdk::Counter& cleared_;
  sdk::Counter& actions_;
  sdk::Counter& action_failures_;
  CommandDone command_done_;

  RulesConfig config_;
  std::vector<Duration> window_span_;  // by slot: the longest window over it (0: none)
  bool any_related_ = false;
  bool any_stale_ = false;
  std::unordered_map<std::string, std::unique_ptr<TwinState>, Hash, std::equal_to<>> twins_by_id_;
  std::vector<TwinState*> order_;  // twins in the order first seen (deterministic ticks)
  std::unordered_map<std::string, std::vector<int>> model_rules_;
  // State kept before a restart, applied when the twin is first seen.
  std::map<std::pair<std::string, std::string>, RuleState> restored_;
  std::map<std::string, std::string> restored_windows_;

  // Evaluation scratch (the delivery thread only).
  const TwinState* current_ = nullptr;
  Timestamp current_at_ = 0;  // the event time current_ is evaluated at
  mutable std::vector<double> scratch_numbers_;
  mutable std::vector<std::string> scratch_texts_;
  std::uint64_t pending_evaluations_ = 0;
  std::uint64_t pending_late_ = 0;
};

}  // namespace doppel::plugins::rules
