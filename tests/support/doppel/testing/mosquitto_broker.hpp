// A real mosquitto broker for integration tests: started on a free 127.0.0.1 port with a
// generated config (queue and inflight limits lifted, so a slow subscriber loses nothing),
// optionally a TLS listener and a password file. Header-only (POSIX); the broker's output goes
// to log_path() inside the fixture's own temporary directory.
//
//   doppel::testing::MosquittoBroker broker;          // started, accepting connections
//   run("mosquitto_pub -p " + std::to_string(broker.port()) ...);
//   broker.stop(); broker.start();                     // same port, same persistence file
//
// Not thread-safe: one test thread drives it. Throws std::runtime_error when the broker
// cannot be started (the message includes the tail of the broker log).
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

extern char** environ;

namespace doppel::testing {

class MosquittoBroker {
 public:
  struct Options {
    // TLS listener on tls_port() when tls_cert and tls_key are set (PEM file paths).
    std::string tls_ca;    // CA that signs client certificates (needed with require_client_cert)
    std::string tls_cert;  // server certificate
    std::string tls_key;   // server key
    bool require_client_cert = false;
    // Users allowed to connect (name, password); when not empty, anonymous clients are refused
    // on every listener. The fixture writes the hashed file with mosquitto_passwd.
    std::vector<std::pair<std::string, std::string>> users;
    // Keep sessions and queued messages across stop()/start() (saved on a graceful stop).
    bool persistence = false;
    // Extra lines appended to the generated mosquitto.conf.
    std::vector<std::string> extra_config;
    std::chrono::milliseconds start_timeout{10000};
    bool start = true;  // start in the constructor
  };

  MosquittoBroker() : MosquittoBroker(Options{}) {}
  explicit MosquittoBroker(Options options) : options_(std::move(options)) {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "doppel-mosquitto-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr)
      throw std::runtime_error("MosquittoBroker: mkdtemp failed: " + std::string(strerror(errno)));
    dir_ = tmpl;
    if (!options_.users.empty()) write_password_file();
    if (options_.start) start();
  }

  MosquittoBroker(const MosquittoBroker&) = delete;
  MosquittoBroker& operator=(const MosquittoBroker&) = delete;

  ~MosquittoBroker() {
    kill();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // Plain listener port (0 before the first start). Stays the same across stop()/start().
  int port() const { return port_; }
  // TLS listener port, 0 when there is none.
  int tls_port() const { return tls_port_; }
  std::string uri() const { return "tcp://127.0.0.1:" + std::to_string(port_); }
  std::string tls_uri() const { return "ssl://127.0.0.1:" + std::to_string(tls_port_); }
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path log_path() const { return dir_ / "mosquitto.log"; }
  std::string log() const {
    std::ifstream in(log_path());
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  // Starts the broker and waits until every listener accepts connections. The first start
  // picks free ports (retrying if another process takes one first); later starts reuse them.
  void start() {
    if (pid_ > 0) return;
    const bool fixed = port_ != 0;
    std::string last_error;
    for (int attempt = 0; attempt < (fixed ? 50 : 10); ++attempt) {
      if (!fixed) {
        port_ = free_port();
        tls_port_ = has_tls() ? free_port() : 0;
        if (port_ == tls_port_) continue;
      }
      write_config();
      spawn();
      if (wait_listening(last_error)) return;
      kill();
      // A fixed port may still be held briefly by a dying process: retry without sleeping
      // blindly (wait_listening already waited on the clock).
    }
    throw std::runtime_error("MosquittoBroker: could not start on port " + std::to_string(port_) +
                             ": " + last_error + "\n--- broker log ---\n" + tail(log(), 2000));
  }

  // Graceful stop (SIGTERM): with persistence, sessions and queued messages are saved.
  void stop() { terminate(SIGTERM); }
  // Hard stop (SIGKILL): nothing is saved since the last autosave.
  void kill() { terminate(SIGKILL); }
  void restart() {
    stop();
    start();
  }

 private:
  bool has_tls() const { return !options_.tls_cert.empty() && !options_.tls_key.empty(); }

  static int free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) throw std::runtime_error("MosquittoBroker: socket() failed");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ::close(fd);
      throw std::runtime_error("MosquittoBroker: cannot bind a free port");
    }
    ::close(fd);
    return ntohs(addr.sin_port);
  }

  static bool accepts(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return false;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    return ok;
  }

  static std::string tail(const std::string& s, std::size_t n) {
    return s.size() <= n ? s : s.substr(s.size() - n);
  }

  void write_password_file() {
    auto path = dir_ / "passwords";
    { std::ofstream(path).close(); }
    for (const auto& [user, password] : options_.users) {
      std::vector<std::string> args = {"mosquitto_passwd", "-b", path.string(), user, password};
      if (run_and_wait(args) != 0)
        throw std::runtime_error("MosquittoBroker: mosquitto_passwd failed for user " + user);
    }
  }

  void write_config() {
    std::ofstream conf(dir_ / "mosquitto.conf", std::ios::trunc);
    // Running as root, mosquitto would drop privileges to "mosquitto" and lose access to our
    // temporary files; as another user this line has no effect.
    conf << "user root\n";
    conf << "per_listener_settings false\n";
    conf << "allow_anonymous " << (options_.users.empty() ? "true" : "false") << "\n";
    if (!options_.users.empty()) conf << "password_file " << (dir_ / "passwords").string() << "\n";
    // mosquitto's default max_queued_messages 1000 silently drops messages to a slow
    // subscriber: lift every queue and inflight limit.
    conf << "max_queued_messages 0\n";
    conf << "max_queued_bytes 0\n";
    conf << "max_inflight_messages 0\n";
    conf << "max_inflight_bytes 0\n";
    conf << "set_tcp_nodelay true\n";
    if (options_.persistence) {
      conf << "persistence true\n";
      conf << "persistence_location " << dir_.string() << "/\n";
      conf << "autosave_interval 1\n";
    } else {
      conf << "persistence false\n";
    }
    conf << "log_dest stderr\n";
    conf << "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n";
    conf << "connection_messages true\n";
    conf << "log_timestamp true\n";
    conf << "listener " << port_ << " 127.0.0.1\n";
    if (has_tls()) {
      conf << "listener " << tls_port_ << " 127.0.0.1\n";
      if (!options_.tls_ca.empty()) conf << "cafile " << options_.tls_ca << "\n";
      conf << "certfile " << options_.tls_cert << "\n";
      conf << "keyfile " << options_.tls_key << "\n";
      conf << "require_certificate " << (options_.require_client_cert ? "true" : "false") << "\n";
    }
    for (const auto& line : options_.extra_config)
      conf << line << "\n";
  }

  static int run_and_wait(const std::vector<std::string>& args) {
    std::vector<char*> argv;
    for (const auto& a : args)
      argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid_t pid = 0;
    if (::posix_spawnp(&pid, argv[0], nullptr, nullptr, argv.data(), environ) != 0) return -1;
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  void spawn() {
    std::string conf = (dir_ / "mosquitto.conf").string();
    std::string log = log_path().string();
    std::vector<std::string> args = {"mosquitto", "-c", conf};
    std::vector<char*> argv;
    for (const auto& a : args)
      argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    pid_t pid = 0;
    int rc = ::posix_spawnp(&pid, "mosquitto", &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0)
      throw std::runtime_error("MosquittoBroker: cannot run mosquitto: " +
                               std::string(strerror(rc)) + " (apt-get install mosquitto)");
    pid_ = pid;
  }

  bool wait_listening(std::string& error) {
    auto deadline = std::chrono::steady_clock::now() + options_.start_timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        error = "mosquitto exited early (port taken?)";
        return false;
      }
      if (accepts(port_) && (tls_port_ == 0 || accepts(tls_port_))) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    error = "not accepting connections within the start timeout";
    return false;
  }

  void terminate(int sig) {
    if (pid_ <= 0) return;
    ::kill(pid_, sig);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }

  Options options_;
  std::filesystem::path dir_;
  int port_ = 0;
  int tls_port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace doppel::testing
