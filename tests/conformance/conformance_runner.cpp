// Runs the official DTDL parser's conformance cases through Doppel's model loader and
// prints the agreement per folder and DTDL version.
//
//   doppel-conformance [--verbose] [--fail-on-disagreement] [--only SUBSTRING] CONFORMANCE_DIR
//
// Required agreement (exit 1 otherwise, with --fail-on-disagreement): every v2 and v3 case in
// specification/, solecisms/ and dtmis/, and every v2/v3 doc-examples case that the reference
// parser 1.1.3 gets right (reference-doc-example-misses.txt lists the others).
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "doppel/model/dtmi.hpp"
#include "doppel/model/loader.hpp"

namespace fs = std::filesystem;
using namespace doppel::model;

namespace {

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  if (s.starts_with("\xEF\xBB\xBF")) s.erase(0, 3);
  return s;
}

std::string to_text(const rapidjson::Value& v) {
  rapidjson::StringBuffer buf;
  rapidjson::PrettyWriter<rapidjson::StringBuffer> w(buf);
  v.Accept(w);
  return buf.GetString();
}

int context_version(const rapidjson::Value& doc) {
  const rapidjson::Value* d = &doc;
  if (d->IsArray() && !d->Empty()) d = &(*d)[0];
  if (!d->IsObject() || !d->HasMember("@context")) return 0;
  const rapidjson::Value& c = (*d)["@context"];
  auto version_of = [](const rapidjson::Value& s) {
    if (!s.IsString()) return 0;
    std::string t = s.GetString();
    if (t.starts_with("dtmi:dtdl:context;")) return std::atoi(t.c_str() + 18);
    return 0;
  };
  if (c.IsString()) return version_of(c);
  if (c.IsArray())
    for (auto& e : c.GetArray())
      if (int v = version_of(e)) return v;
  return 0;
}

struct Tally {
  int total = 0, agree = 0, skipped = 0;
};

struct Runner {
  bool verbose = false;
  std::string only;
  std::set<std::string> reference_misses;
  std::map<std::string, Tally> tallies;  // "folder vN"
  int required_disagreements = 0;
  int desirable_warned = 0, desirable_total = 0;

  bool run_case(const rapidjson::Value& c, const std::string& label, LoadResult& out) {
    LoadOptions opts;
    if (c.HasMember("options") && c["options"].IsArray()) {
      for (auto& o : c["options"].GetArray()) {
        std::string s = o.GetString();
        if (s == "DisallowUndefinedExtensions")
          opts.undefined_extensions = UndefinedExtensions::kNever;
        if (s == "AllowUndefinedExtensions")
          opts.undefined_extensions = UndefinedExtensions::kAlways;
      }
    }
    if (c.HasMember("quirks") && c["quirks"].IsArray()) {
      for (auto& q : c["quirks"].GetArray()) {
        std::string s = q.GetString();
        if (s == "TolerateSolecismsInParse") opts.quirks.tolerate_solecisms_in_parse = true;
        if (s == "TolerateSolecismsInResolve") opts.quirks.tolerate_solecisms_in_resolve = true;
      }
    }
    std::vector<std::pair<std::vector<std::string>, std::vector<std::string>>> resolution;
    if (c.HasMember("resolution") && c["resolution"].IsArray()) {
      for (auto& r : c["resolution"].GetArray()) {
        std::vector<std::string> req, resp;
        for (auto& q : r["request"].GetArray())
          req.push_back(q.GetString());
        for (auto& d : r["response"].GetArray())
          resp.push_back(to_text(d));
        resolution.emplace_back(req, resp);
      }
      opts.resolver = [resolution](const std::vector<std::string>& dtmis) {
        std::vector<std::string> docs;
        for (auto& [req, resp] : resolution) {
          bool hit = std::any_of(req.begin(), req.end(), [&](const std::string& r) {
            return std::find(dtmis.begin(), dtmis.end(), r) != dtmis.end();
          });
          if (hit) docs.insert(docs.end(), resp.begin(), resp.end());
        }
        return docs;
      };
    }
    ModelLoader loader(opts);
    const rapidjson::Value& input = c["input"];
    int i = 0;
    for (auto& doc : input.GetArray())
      loader.add_text(label + "/input[" + std::to_string(i++) + "]", to_text(doc),
                      DocumentFormat::kJson);
    out = loader.load();
    return out.ok();
  }

  void record(const std::string& key, bool agree, const std::string& label, bool required,
              const LoadResult* result, bool expected) {
    Tally& t = tallies[key];
    ++t.total;
    if (agree) ++t.agree;
    if (!agree && required) ++required_disagreements;
    if (!agree && verbose) {
      std::printf("DISAGREE %s expected %s got %s%s\n", label.c_str(),
                  expected ? "valid" : "invalid", expected ? "invalid" : "valid",
                  required ? "" : " (not required)");
      if (result)
        for (auto& d : result->diagnostics.items)
          if (d.severity == Severity::kError)
            std::printf("    %s: %s [%s %s]\n", d.code.c_str(), d.message.c_str(),
                        d.element.c_str(), d.path.c_str());
    }
  }

  void run_file(const fs::path& file, const std::string& folder) {
    std::string name = file.filename().string();
    if (!only.empty() && (folder + "/" + name).find(only) == std::string::npos) return;
    std::string text = read_file(file);
    rapidjson::Document d;
    d.Parse(text.c_str(), text.size());
    if (d.HasParseError()) {
      std::fprintf(stderr, "%s: cannot parse case file: %s\n", file.c_str(),
                   rapidjson::GetParseError_En(d.GetParseError()));
      ++required_disagreements;
      return;
    }
    if (folder == "dtmis") {
      bool expected = d["valid"].GetBool();
      bool got = parse_dtmi(d["idText"].GetString()).has_value();
      record("dtmis", got == expected, folder + "/" + name, true, nullptr, expected);
      return;
    }
    std::vector<const rapidjson::Value*> cases;
    if (d.IsArray())
      for (auto& c : d.GetArray())
        cases.push_back(&c);
    else
      cases.push_back(&d);
    int file_version = 0;
    if (auto pos = name.rfind('V'); pos != std::string::npos && name.ends_with(".json"))
      file_version = std::atoi(name.c_str() + pos + 1);
    for (std::size_t i = 0; i < cases.size(); ++i) {
      const rapidjson::Value& c = *cases[i];
      if (!c.IsObject() || !c.HasMember("input")) continue;
      std::string label = folder + "/" + name + "#" + std::to_string(i);
      int version = folder == "doc-examples" ? context_version(c["input"][0]) : file_version;
      std::string key = folder + " v" + std::to_string(version);
      bool expected = c["valid"].GetBool();
      bool required = version == 2 || version == 3;
      if (folder == "doc-examples" && reference_misses.count(name + "#" + std::to_string(i)))
        required = false;
      LoadResult result;
      bool got = run_case(c, label, result);
      record(key, got == expected, label, required, &result, expected);
      if (expected && got && version != 4 && c.HasMember("desirable") && c["desirable"].IsBool() &&
          !c["desirable"].GetBool()) {
        ++desirable_total;
        if (result.diagnostics.warning_count() > 0) {
          ++desirable_warned;
        } else {
          if (required) ++required_disagreements;
          if (verbose) std::printf("NO WARNING for undesirable case %s\n", label.c_str());
        }
      }
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  Runner runner;
  bool fail_on_disagreement = false;
  fs::path dir;
  fs::path misses_file = fs::path(DOPPEL_CONFORMANCE_DIR) / "reference-doc-example-misses.txt";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--verbose")
      runner.verbose = true;
    else if (a == "--fail-on-disagreement")
      fail_on_disagreement = true;
    else if (a == "--only" && i + 1 < argc)
      runner.only = argv[++i];
    else if (a == "--reference-misses" && i + 1 < argc)
      misses_file = argv[++i];
    else
      dir = a;
  }
  if (dir.empty() || !fs::is_directory(dir)) {
    std::fprintf(stderr,
                 "usage: doppel-conformance [--verbose] [--fail-on-disagreement] [--only TEXT] "
                 "CONFORMANCE_DIR\n");
    return 2;
  }
  {
    std::ifstream in(misses_file);
    for (std::string line; std::getline(in, line);)
      if (!line.empty() && line[0] != '#') runner.reference_misses.insert(line);
  }
  auto t0 = std::chrono::steady_clock::now();
  for (const char* folder : {"specification", "solecisms", "doc-examples", "dtmis"}) {
    std::vector<fs::path> files;
    if (!fs::is_directory(dir / folder)) continue;
    for (auto& e : fs::directory_iterator(dir / folder))
      if (e.path().extension() == ".json") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (auto& f : files)
      runner.run_file(f, folder);
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%-22s %8s %8s %8s\n", "folder/version", "cases", "agree", "percent");
  for (auto& [key, t] : runner.tallies)
    std::printf("%-22s %8d %8d %7.2f%%\n", key.c_str(), t.total, t.agree,
                t.total ? 100.0 * t.agree / t.total : 0.0);
  std::printf("valid cases marked desirable:false that got a warning: %d of %d\n",
              runner.desirable_warned, runner.desirable_total);
  std::printf("required disagreements: %d (%.1f s)\n", runner.required_disagreements, secs);
  return fail_on_disagreement && runner.required_disagreements > 0 ? 1 : 0;
}
