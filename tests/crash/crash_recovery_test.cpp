// kill -9 during a write load with RocksDB (durability sync), restart, every acknowledged
// update is present.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "doppel/runtime/deployment.hpp"
#include "doppel/runtime/runtime.hpp"
#include "doppel/testing/test_services.hpp"

namespace doppel {
namespace {

constexpr const char* kModel =
    R"({"@context": "dtmi:dtdl:context;3", "@id": "dtmi:crash:Counter;1", "@type": "Interface",
  "contents": [{"@type": "Telemetry", "name": "count", "schema": "long"}]})";

TEST(CrashRecovery, EveryAcknowledgedUpdateSurvivesKill9) {
  testing::TempDir dir;
  std::ofstream(dir.path() / "counter.json") << kModel;
  std::ofstream(dir.path() / "deploy.yaml")
      << "apiVersion: doppel/v1\nname: crash\nmodels: [counter.json]\n"
         "plugins:\n  - {name: store, kind: storage, library: rocksdb, config: {path: "
      << (dir.path() / "db").string()
      << ", durability: sync}}\n"
         "twins:\n  - {id: \"m{i}\", count: 4, model: \"dtmi:crash:Counter;1\"}\n";
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    execl(CRASH_WRITER, CRASH_WRITER, (dir.path() / "deploy.yaml").c_str(), nullptr);
    _exit(127);
  }
  close(fds[1]);
  // Read acknowledgements until enough have arrived, then kill without warning.
  std::map<std::string, long> acked;
  FILE* in = fdopen(fds[0], "r");
  char line[256];
  long acks = 0;
  while (fgets(line, sizeof line, in)) {
    char twin[64];
    long n;
    if (std::sscanf(line, "ack %63s %ld", twin, &n) == 2) {
      acked[twin] = std::max(acked[twin], n);
      if (++acks == 3000) break;
    }
  }
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  fclose(in);
  ASSERT_EQ(acks, 3000) << "the writer stopped early";
  ASSERT_TRUE(WIFSIGNALED(status));

  // Restart on the same database.
  auto load = runtime::load_deployment(dir.path() / "deploy.yaml");
  ASSERT_TRUE(load.ok());
  runtime::RuntimeOptions opts;
  opts.log = std::make_unique<runtime::Log>(
      "crash-test", runtime::LogOptions{sdk::LogLevel::kError, runtime::LogFormat::kText});
  runtime::Runtime rt(std::move(*load.deployment), load.models, std::move(opts));
  auto started = rt.start();
  ASSERT_TRUE(started) << started.status().to_string();
  EXPECT_EQ(started->twins_recovered, 4u);
  for (const auto& [twin, n] : acked) {
    long stored = -1;
    rt.graph().read(
        twin, [&](const twin::TwinView& t) { stored = t.slot("count")->reported.as_integer(); });
    EXPECT_GE(stored, n) << twin << ": acknowledged " << n << ", recovered " << stored;
  }
  rt.stop();
}

}  // namespace
}  // namespace doppel
