// Helper of the crash test: writes batches from 4 threads until killed, and prints
// "<thread> <seq>\n" for every batch the storage acknowledged as durable. Each batch holds a
// record, a second record in another table and a sample, so the test can also check atomicity.
//   doppel_rocksdb_crash_writer PLUGIN_SO DB_DIR DURABILITY
#include <unistd.h>

#include <cstdio>
#include <semaphore>
#include <string>
#include <thread>
#include <vector>

#include "doppel/storage_testing/harness.hpp"

namespace {

using namespace doppel;

class Ack final : public sdk::WriteCallback {
 public:
  Ack(int thread, long seq, std::counting_semaphore<>& window)
      : thread_(thread), seq_(seq), window_(window) {}
  void done(const sdk::Status& status) noexcept override {
    if (status) {
      // One write(2) per line: lines from different threads never interleave.
      char line[64];
      int n = std::snprintf(line, sizeof line, "%d %ld\n", thread_, seq_);
      if (::write(STDOUT_FILENO, line, static_cast<std::size_t>(n)) != n) std::_Exit(3);
    } else {
      std::fprintf(stderr, "write failed: %s\n", status.to_string().c_str());
    }
    window_.release();
    delete this;
  }

 private:
  int thread_;
  long seq_;
  std::counting_semaphore<>& window_;
};

}  // namespace

int main(int argc, char** argv) {
  using namespace doppel::storage_testing;
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s PLUGIN_SO DB_DIR DURABILITY\n", argv[0]);
    return 2;
  }
  TestServices services;
  MapConfig config;
  config.set("path", argv[2]).set("durability", argv[3]);
  auto loaded = LoadedStorage::load(argv[1], services.context(), config);
  if (!loaded) {
    std::fprintf(stderr, "%s\n", loaded.status().to_string().c_str());
    return 1;
  }
  if (sdk::Status s = (*loaded)->start(); !s) {
    std::fprintf(stderr, "%s\n", s.to_string().c_str());
    return 1;
  }
  sdk::StoragePlugin& storage = (*loaded)->storage();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&storage, t] {
      std::counting_semaphore<> window(64);  // writes in flight per thread
      const std::string series = std::string("crash\0", 6) + std::to_string(t);
      const std::string last_key = "last/" + std::to_string(t);
      for (long seq = 0;; ++seq) {
        window.acquire();
        char key[32];
        std::snprintf(key, sizeof key, "rec/%d/%09ld", t, seq);
        std::string value = "v" + std::to_string(seq);
        sdk::WriteOp ops[] = {{sdk::Table::kTwins, false, key, value},
                              {sdk::Table::kMeta, false, last_key, value}};
        sdk::Sample sample{series, seq * sdk::kSecond, static_cast<double>(seq)};
        storage.write({ops, std::span(&sample, 1)}, new Ack(t, seq, window));
      }
    });
  for (auto& th : threads)
    th.join();
}
