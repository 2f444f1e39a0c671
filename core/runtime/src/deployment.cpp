// The deployment's value types (templates, durations, instances) and load_deployment(), which
// runs the parse and check steps (deployment_parse.cpp, deployment_references.cpp,
// deployment_models.cpp).
#include "doppel/runtime/deployment.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

#include "deployment_internal.hpp"
#include "doppel/model/json_text.hpp"
#include "doppel/model/registry.hpp"

namespace doppel::runtime {

namespace fs = std::filesystem;

// ---- templates ----------------------------------------------------------------------------------

namespace {

constexpr std::string_view kIndex = "{i}";

void append_index(std::int64_t i, std::string& out) {
  char buf[24];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, i);
  out.append(buf, p);
}

void replace_index(std::string_view text, std::int64_t i, std::string& out) {
  out.clear();
  std::size_t pos = 0;
  while (true) {
    std::size_t at = text.find(kIndex, pos);
    if (at == std::string_view::npos) {
      out.append(text, pos);
      return;
    }
    out.append(text, pos, at - pos);
    append_index(i, out);
    pos = at + kIndex.size();
  }
}

}  // namespace

IdTemplate::IdTemplate(std::string text) : text_(std::move(text)) {
  pieces_.clear();
  std::size_t pos = 0;
  while (true) {
    std::size_t at = text_.find(kIndex, pos);
    if (at == std::string::npos) {
      pieces_.emplace_back(text_, pos);
      return;
    }
    pieces_.emplace_back(text_, pos, at - pos);
    pos = at + kIndex.size();
  }
}

void IdTemplate::expand_into(std::int64_t i, std::string& out) const {
  out.clear();
  out += pieces_.front();
  for (std::size_t k = 1; k < pieces_.size(); ++k) {
    append_index(i, out);
    out += pieces_[k];
  }
}

std::string IdTemplate::expand(std::int64_t i) const {
  std::string out;
  expand_into(i, out);
  return out;
}

std::optional<std::int64_t> IdTemplate::match(std::string_view text) const {
  if (!has_index()) return text == text_ ? std::optional<std::int64_t>(0) : std::nullopt;
  std::string_view first = pieces_.front(), last = pieces_.back();
  if (text.size() < first.size() + last.size() + 1 || !text.starts_with(first)) return {};
  // The index is the run of digits after the prefix; every other {i} must repeat it.
  std::size_t end = first.size();
  while (end < text.size() && text[end] >= '0' && text[end] <= '9')
    ++end;
  std::string_view digits = text.substr(first.size(), end - first.size());
  if (digits.empty() || (digits.size() > 1 && digits[0] == '0')) return {};
  std::int64_t i = 0;
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), i);
  if (ec != std::errc()) return {};
  // Verify the rest without allocating.
  std::size_t pos = end;
  for (std::size_t k = 1; k < pieces_.size(); ++k) {
    if (k > 1) {
      if (text.compare(pos, digits.size(), digits) != 0) return {};
      pos += digits.size();
    }
    if (text.compare(pos, pieces_[k].size(), pieces_[k]) != 0) return {};
    pos += pieces_[k].size();
  }
  if (pos != text.size()) return {};
  return i;
}

void TemplateValue::expand_into(std::int64_t i, PropertyValue& out) const {
  switch (index) {
    case Index::kNone:
      out = value;
      return;
    case Index::kNumber:
      out.kind = value.kind;
      out.boolean = false;
      out.integer = i;
      out.number = static_cast<double>(i);
      out.text.clear();
      return;
    case Index::kInText:
      out.kind = value.kind;
      out.boolean = value.boolean;
      out.integer = value.integer;
      out.number = value.number;
      replace_index(value.text, i, out.text);
      return;
  }
}

PropertyValue TemplateValue::expand(std::int64_t i) const {
  PropertyValue out;
  expand_into(i, out);
  return out;
}

void TwinSpec::instance(std::int64_t i, TwinInstance& out) const {
  out.index = i;
  id.expand_into(i, out.id);
  out.properties.resize(properties.size());
  for (std::size_t k = 0; k < properties.size(); ++k) {
    out.properties[k].first = properties[k].path;
    properties[k].value.expand_into(i, out.properties[k].second);
  }
}

void RelationshipSpec::instance(std::int64_t i, RelationshipInstance& out) const {
  out.index = i;
  source.expand_into(i, out.source);
  target.expand_into(i, out.target);
  if (id.empty()) {
    out.id.clear();
    out.id += name;
    out.id += '-';
    out.id += out.target;
  } else {
    id.expand_into(i, out.id);
  }
  out.properties.resize(properties.size());
  for (std::size_t k = 0; k < properties.size(); ++k) {
    out.properties[k].first = properties[k].path;
    properties[k].value.expand_into(i, out.properties[k].second);
  }
}

// ---- config blocks ------------------------------------------------------------------------------

ConfigBlock::ConfigBlock() : ConfigBlock(missing("")) {}

ConfigBlock::ConfigBlock(std::shared_ptr<const sdk::ConfigNode> node) : node_(std::move(node)) {
  if (!node_) *this = missing("");
}

ConfigBlock ConfigBlock::missing(std::string where) {
  auto doc = YamlDocument::empty(std::move(where));
  return ConfigBlock(node_handle(doc, doc->root()));
}

// ---- the deployment -----------------------------------------------------------------------------

std::size_t Deployment::twin_count() const {
  std::size_t n = 0;
  for (const TwinSpec& t : twins)
    n += static_cast<std::size_t>(t.count);
  return n;
}

std::size_t Deployment::relationship_count() const {
  std::size_t n = 0;
  for (const RelationshipSpec& r : relationships)
    n += static_cast<std::size_t>(r.count);
  return n;
}

const PluginSpec* Deployment::storage() const {
  for (const PluginSpec& p : plugins)
    if (p.kind == sdk::PluginKind::kStorage) return &p;
  return nullptr;
}

sdk::Duration Deployment::default_period(const model::Interface& interface) const {
  // Its own model first, then the closest base: breadth-first over `extends`.
  std::vector<const model::Interface*> level{&interface};
  std::vector<const model::Interface*> seen;
  while (!level.empty()) {
    for (const model::Interface* i : level)
      for (const ModelPeriod& p : expected_update_periods)
        if (p.model == i->id) return p.period;
    std::vector<const model::Interface*> next;
    for (const model::Interface* i : level)
      for (const model::Interface* base : i->extends)
        if (std::find(seen.begin(), seen.end(), base) == seen.end()) {
          seen.push_back(base);
          next.push_back(base);
        }
    level = std::move(next);
  }
  return 0;
}

// ---- loading ------------------------------------------------------------------------------------

namespace {

DeploymentLoad load(std::string name, std::string_view text, const fs::path& base_dir,
                    const DeploymentOptions& options) {
  DeploymentLoad result;
  detail::Reporter report(result.diagnostics);
  model::Diagnostic syntax;
  auto doc = YamlDocument::parse(name, text, syntax);
  if (!doc) {
    result.diagnostics.items.push_back(std::move(syntax));
    return result;
  }
  detail::Parsed parsed;
  parsed.options = options;
  parsed.deployment.file = base_dir / fs::path(name).filename();
  detail::parse_structure(doc, base_dir, report, parsed);
  detail::check_references(parsed, report);

  if (!options.check_models) {
    detail::type_properties_from_yaml(parsed);
  } else if (!parsed.deployment.models.empty()) {
    // Model errors keep their own locations; a missing path is reported where it is written.
    model::LoadOptions lo;
    lo.undefined_extensions = parsed.deployment.undefined_extensions;
    model::ModelLoader loader(lo);
    bool any = false;
    for (std::size_t i = 0; i < parsed.deployment.models.size(); ++i) {
      const fs::path& p = parsed.deployment.models[i];
      std::error_code ec;
      if (!fs::exists(p, ec)) {
        report.error(*parsed.model_nodes[i], detail::code::kMissingFile,
                     "no such model file or folder: " + p.lexically_normal().string(),
                     "model paths are relative to the deployment file's folder");
        continue;
      }
      loader.add_path(p);
      any = true;
    }
    if (any) {
      model::LoadResult models = loader.load();
      for (model::Diagnostic& d : models.diagnostics.items)
        result.diagnostics.items.push_back(std::move(d));
      result.models = std::move(models.registry);
    }
    if (result.models) detail::check_against_models(parsed, *result.models, report);
  }
  // The deployment file's errors in reading order, then the models' (in the loader's order).
  auto& items = result.diagnostics.items;
  auto models_begin =
      std::stable_partition(items.begin(), items.end(),
                            [&](const model::Diagnostic& d) { return d.location.file == name; });
  std::stable_sort(items.begin(), models_begin, [](const auto& a, const auto& b) {
    return std::pair(a.location.line, a.location.column) <
           std::pair(b.location.line, b.location.column);
  });
  if (!result.diagnostics.has_errors()) result.deployment = std::move(parsed.deployment);
  return result;
}

}  // namespace

DeploymentLoad load_deployment_text(std::string name, std::string_view text,
                                    const fs::path& base_dir, const DeploymentOptions& options) {
  return load(std::move(name), text, base_dir, options);
}

DeploymentLoad load_deployment(const fs::path& file, const DeploymentOptions& options) {
  std::error_code ec;
  std::ifstream in;
  if (!fs::is_directory(file, ec)) in.open(file, std::ios::binary);
  std::stringstream ss;
  if (in) ss << in.rdbuf();
  if (!in.is_open() || in.bad()) {
    DeploymentLoad r;
    model::Diagnostic d;
    d.code = detail::code::kUnreadable;
    d.message = "cannot read the deployment file";
    d.hint = "check the path and its permissions";
    d.location.file = file.string();
    r.diagnostics.items.push_back(std::move(d));
    return r;
  }
  fs::path base = file.parent_path();
  return load(file.string(), ss.str(), base.empty() ? fs::path(".") : base, options);
}

// ---- helpers shared by the steps ----------------------------------------------------------------

namespace detail {

void Reporter::error(const YamlConfigNode& at, std::string_view code, std::string message,
                     std::string hint) {
  model::Diagnostic d;
  d.code = std::string(code);
  d.message = std::move(message);
  d.hint = std::move(hint);
  d.path = at.path();
  d.location = {at.file(), at.line(), at.column()};
  out_.items.push_back(std::move(d));
}

void Reporter::error_at_key(const YamlConfigNode& map, std::size_t i, std::string_view code,
                            std::string message, std::string hint) {
  model::Diagnostic d;
  d.code = std::string(code);
  d.message = std::move(message);
  d.hint = std::move(hint);
  d.path = map.child(i).path();
  d.location = {map.file(), map.key_line(i), map.key_column(i)};
  out_.items.push_back(std::move(d));
}

namespace {

std::size_t edit_distance(std::string_view a, std::string_view b) {
  // Optimal string alignment: insertions, deletions, substitutions and swaps of neighbours
  // ("modle" -> "model") cost 1 each.
  const std::size_t w = b.size() + 1;
  std::vector<std::size_t> d((a.size() + 1) * w);
  for (std::size_t i = 0; i <= a.size(); ++i)
    d[i * w] = i;
  for (std::size_t j = 0; j <= b.size(); ++j)
    d[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i)
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      std::size_t v =
          std::min({d[(i - 1) * w + j] + 1, d[i * w + j - 1] + 1, d[(i - 1) * w + j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        v = std::min(v, d[(i - 2) * w + j - 2] + 1);
      d[i * w + j] = v;
    }
  return d[a.size() * w + b.size()];
}

}  // namespace

std::string suggestion(std::string_view word, const std::vector<std::string_view>& candidates) {
  std::string_view best;
  std::size_t best_distance = std::numeric_limits<std::size_t>::max();
  for (std::string_view c : candidates) {
    std::size_t d = edit_distance(word, c);
    if (d < best_distance) best_distance = d, best = c;
  }
  std::size_t limit = std::max<std::size_t>(2, std::min(word.size(), best.size()) / 3);
  if (best.empty() || best_distance > limit) return {};
  return "did you mean '" + std::string(best) + "'?";
}

std::string join(const std::vector<std::string_view>& items, std::size_t max) {
  std::string out;
  for (std::size_t i = 0; i < items.size() && i < max; ++i) {
    if (i) out += ", ";
    out += items[i];
  }
  if (items.size() > max) out += ", ... (" + std::to_string(items.size()) + " in all)";
  return out;
}

std::string describe(const YamlConfigNode& node) {
  using Type = sdk::ConfigNode::Type;
  auto quoted = [](std::string_view s) {
    std::string t(s.substr(0, 40));
    if (s.size() > 40) t += "...";
    return t;
  };
  switch (node.type()) {
    case Type::kMissing:
      return "nothing";
    case Type::kNull:
      return "null";
    case Type::kBool:
      return "a boolean (" + std::string(node.text()) + ")";
    case Type::kInteger:
      return "an integer (" + std::string(node.text()) + ")";
    case Type::kNumber:
      return "a number (" + std::string(node.text()) + ")";
    case Type::kString:
      return "a string ('" + quoted(node.text()) + "')";
    case Type::kList:
      return "a list";
    case Type::kMap:
      return "a map";
  }
  return "?";
}

void append_json_string(std::string_view s, std::string& out) {
  model::append_json_string(out, s);
}

void append_json(const YamlConfigNode& node, std::int64_t index, std::string& out) {
  using Type = sdk::ConfigNode::Type;
  switch (node.type()) {
    case Type::kMissing:
    case Type::kNull:
      out += "null";
      return;
    case Type::kBool:
      out += node.as_bool() ? "true" : "false";
      return;
    case Type::kInteger:
      append_index(node.as_integer(), out);
      return;
    case Type::kNumber: {
      if (!std::isfinite(node.as_number())) {
        out += "null";  // JSON has no infinities; the schema check then refuses the value
        return;
      }
      char buf[32];
      auto [p, ec] = std::to_chars(buf, buf + sizeof buf, node.as_number());
      out.append(buf, p);
      return;
    }
    case Type::kString:
      if (index >= 0 && node.text().find(kIndex) != std::string_view::npos) {
        std::string expanded;
        replace_index(node.text(), index, expanded);
        append_json_string(expanded, out);
      } else {
        append_json_string(node.text(), out);
      }
      return;
    case Type::kList:
      out += '[';
      for (std::size_t i = 0; i < node.size(); ++i) {
        if (i) out += ',';
        append_json(node.child(i), index, out);
      }
      out += ']';
      return;
    case Type::kMap:
      out += '{';
      for (std::size_t i = 0; i < node.size(); ++i) {
        if (i) out += ',';
        append_json_string(node.key_at(i), out);
        out += ':';
        append_json(node.child(i), index, out);
      }
      out += '}';
      return;
  }
}

bool contains_index(const YamlConfigNode& node) {
  if (node.type() == sdk::ConfigNode::Type::kString)
    return node.text().find(kIndex) != std::string_view::npos;
  for (std::size_t i = 0; i < node.size(); ++i)
    if (contains_index(node.child(i))) return true;
  return false;
}

const YamlConfigNode& node_at_json_path(const YamlConfigNode& root, std::string_view path) {
  const YamlConfigNode* at = &root;
  if (path.starts_with('$')) path.remove_prefix(1);
  while (!path.empty()) {
    const YamlConfigNode* next = nullptr;
    if (path[0] == '.') {
      path.remove_prefix(1);
      std::size_t end = path.find_first_of(".[");
      std::string_view key = path.substr(0, end);
      const YamlConfigNode& n = at->find(key);
      if (!n.missing()) next = &n;
      path.remove_prefix(end == std::string_view::npos ? path.size() : end);
    } else if (path[0] == '[') {
      std::size_t end = path.find(']');
      std::size_t i = 0;
      std::string_view digits = path.substr(1, end == std::string_view::npos ? 0 : end - 1);
      std::from_chars(digits.data(), digits.data() + digits.size(), i);
      if (i < at->size()) next = &at->child(i);
      path.remove_prefix(end == std::string_view::npos ? path.size() : end + 1);
    } else {
      break;
    }
    if (!next) break;
    at = next;
  }
  return *at;
}

}  // namespace detail

}  // namespace doppel::runtime
