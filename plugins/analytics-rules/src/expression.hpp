// The rule expression language: parsed and checked once against the model (names resolve, types
// fit, units convert), compiled to a flat postfix program, and evaluated on a fixed-size stack
// without allocating. Reference: docs/rules.md.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "doppel/sdk/clock.hpp"
#include "doppel/sdk/twins.hpp"

namespace doppel::plugins::rules {

using sdk::Duration;
using sdk::Timestamp;

// What the compiler asks about the model an expression runs on.
class Schema {
 public:
  virtual ~Schema() = default;
  // The slot named `path` (nullptr when the model has none).
  virtual const sdk::ModelSlot* slot(std::string_view path) const = 0;
  // The schema of the twins a relationship named `name` points to (nullptr when there is no such
  // relationship).
  virtual const Schema* related(std::string_view name) const = 0;
  // For error hints: the names the model has.
  virtual std::string slot_names() const = 0;
  virtual std::string relationship_names() const = 0;
};

// Maps slot paths to dense indexes shared by every program of one engine, so a twin's values are
// a plain array.
class SlotTable {
 public:
  int intern(std::string_view path);
  int find(std::string_view path) const noexcept;
  std::size_t size() const noexcept { return names_.size(); }
  const std::string& name(int index) const { return names_[static_cast<std::size_t>(index)]; }

 private:
  std::vector<std::string> names_;
};

enum class WindowFn : std::uint8_t { kAvg, kMin, kMax, kCount, kRate };
enum class RelatedFn : std::uint8_t { kAny, kAll, kCount };

struct WindowRef {
  WindowFn fn;
  int slot;
  Duration span;
};

struct Program;

struct RelatedRef {
  RelatedFn fn;
  std::string relationship;
  int program = 0;  // index into Program::subprograms
};

enum class Op : std::uint8_t {
  kConst,
  kSlot,
  kStrEq,  // slot a == strings[b]
  kStrNe,
  kNeg,
  kAdd,
  kSub,
  kMul,
  kDiv,
  kAbs,
  kMin,
  kMax,
  kLt,
  kLe,
  kGt,
  kGe,
  kEq,
  kNe,
  kAnd,
  kOr,
  kNot,
  kWindow,   // windows[a]
  kStale,    // no data for `k` ns (k < 0: the runtime's stale flag)
  kRelated,  // related[a]
};

struct Instr {
  Op op;
  std::int32_t a = 0;
  std::int32_t b = 0;
  double k = 0;
};

struct Program {
  std::vector<Instr> code;
  std::vector<std::string> strings;
  std::vector<WindowRef> windows;
  std::vector<RelatedRef> related;
  std::vector<Program> subprograms;
  std::vector<int> slots;  // slots it reads (for messages, and for reading related twins)
  int max_stack = 0;
  bool uses_stale = false;
  bool uses_windows = false;
  std::string source;
};

// Where a program gets window aggregates and related twins from during evaluation.
class EvalSources {
 public:
  virtual ~EvalSources() = default;
  virtual double window(const WindowRef& w, Timestamp now) const noexcept = 0;
  virtual double related(const RelatedRef& r, const Program& sub) const noexcept = 0;
};

struct EvalInput {
  const double* numbers = nullptr;     // by slot index; NaN when unknown, booleans 0/1
  const std::string* texts = nullptr;  // by slot index (strings and enums)
  Timestamp now = 0;                   // the event time evaluated at
  Timestamp last_data = 0;             // newest data of the twin (staleness)
  bool stale = false;                  // the runtime's stale flag
  const EvalSources* sources = nullptr;
};

constexpr int kMaxStack = 64;

// Evaluates; the result of a condition is true when it is non-zero and not NaN.
double evaluate(const Program& program, const EvalInput& input) noexcept;
inline bool holds(double v) noexcept {
  return v == v && v != 0;
}

struct CompileError {
  std::size_t column = 0;  // 1-based column in the expression
  std::string message;
  std::string hint;
};

// Compiles a condition (must be boolean). On failure returns false and fills `error`.
bool compile(std::string_view source, const Schema& schema, SlotTable& slots, Program& out,
             CompileError& error);

// "5m", "30s", "1h30m", "500ms", "2d"; false when malformed.
bool parse_duration(std::string_view text, Duration& out) noexcept;

}  // namespace doppel::plugins::rules
