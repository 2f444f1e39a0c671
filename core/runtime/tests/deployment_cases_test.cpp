// Every file in tests/data/deployments/bad/ holds one mistake and says where Doppel reports it:
//   # expect: LINE:COLUMN CODE
// Every file in examples/deployments/ is valid. (The JSON Schema agreement over the same files
// is deployment_schema_test.py.)
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "doppel/runtime/deployment.hpp"

namespace doppel::runtime {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> yaml_files(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".yaml") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

std::string test_name(const ::testing::TestParamInfo<fs::path>& info) {
  std::string s = info.param.stem().string();
  for (char& c : s)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return s;
}

std::string errors(const DeploymentLoad& r) {
  std::string out;
  for (const auto& d : r.diagnostics.items)
    out += model::format_diagnostic(d) + "\n";
  return out;
}

class BadCase : public ::testing::TestWithParam<fs::path> {};

TEST_P(BadCase, IsReportedWhereItsHeaderSays) {
  std::ifstream in(GetParam());
  std::stringstream ss;
  ss << in.rdbuf();
  std::smatch m;
  std::string text = ss.str();
  ASSERT_TRUE(std::regex_search(text, m, std::regex(R"(# expect: (\d+):(\d+) (\w+))")))
      << GetParam() << " has no '# expect: LINE:COLUMN CODE' header";
  std::uint32_t line = static_cast<std::uint32_t>(std::stoul(m[1]));
  std::uint32_t column = static_cast<std::uint32_t>(std::stoul(m[2]));
  std::string code = m[3];

  DeploymentLoad r = load_deployment(GetParam());
  ASSERT_FALSE(r.ok());
  EXPECT_FALSE(r.deployment.has_value());
  bool found = false;
  for (const model::Diagnostic& d : r.diagnostics.items) {
    EXPECT_FALSE(d.message.empty());
    EXPECT_GT(d.location.line, 0u) << model::format_diagnostic(d);
    if (d.code == code && d.location.line == line && d.location.column == column) {
      found = true;
      EXPECT_EQ(d.location.file, GetParam().string());
    }
  }
  EXPECT_TRUE(found) << "expected " << code << " at " << line << ":" << column << ", got:\n"
                     << errors(r);
  // One mistake each: at most one other finding, caused by the same mistake (a misspelt key
  // also leaves its key missing).
  EXPECT_LE(r.diagnostics.items.size(), 2u) << errors(r);
}

INSTANTIATE_TEST_SUITE_P(Deployments, BadCase,
                         ::testing::ValuesIn(yaml_files(DOPPEL_SOURCE_DIR
                                                        "/tests/data/deployments/bad")),
                         test_name);

class Example : public ::testing::TestWithParam<fs::path> {};

TEST_P(Example, IsValid) {
  DeploymentLoad r = load_deployment(GetParam());
  EXPECT_TRUE(r.ok()) << errors(r);
  EXPECT_TRUE(r.diagnostics.items.empty()) << errors(r);
}

INSTANTIATE_TEST_SUITE_P(Deployments, Example,
                         ::testing::ValuesIn(yaml_files(DOPPEL_SOURCE_DIR "/examples/deployments")),
                         test_name);

}  // namespace
}  // namespace doppel::runtime
