// The REST API end to end over real HTTP (httplib client) against an in-process Runtime.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <algorithm>
#include <atomic>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "api_fixture.hpp"
#include "doppel/runtime/deployment.hpp"
#include "doppel/runtime/update_pipeline.hpp"
#include "doppel/sdk/storage.hpp"
#include "tokens.hpp"

namespace doppel::api::testing {
namespace {

using doppel::testing::wait_until;

rapidjson::Document json(const std::string& body) {
  rapidjson::Document d;
  d.Parse(body.c_str());
  EXPECT_FALSE(d.HasParseError()) << body;
  return d;
}

// The body is an RFC 9457 problem with `status`, naming `field` when given.
void expect_problem(const httplib::Result& res, int status, const std::string& field = "") {
  ASSERT_TRUE(res) << "no response";
  EXPECT_EQ(res->status, status) << res->body;
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/problem+json") << res->body;
  auto d = json(res->body);
  ASSERT_TRUE(d.IsObject()) << res->body;
  for (const char* k : {"type", "title", "detail", "instance"})
    EXPECT_TRUE(d.HasMember(k) && d[k].IsString()) << k << " in " << res->body;
  EXPECT_TRUE(d.HasMember("status") && d["status"].IsInt() && d["status"].GetInt() == status)
      << res->body;
  if (!field.empty()) {
    ASSERT_TRUE(d.HasMember("field")) << res->body;
    EXPECT_EQ(std::string(d["field"].GetString()), field) << res->body;
  }
}

TEST(ApiAuth, EveryCase) {
  ApiFixture f;
  auto& c = *f.client;
  // No token, unknown token: 401 with a challenge.
  auto none = c.Get("/api/v1/twins/motor-1");
  expect_problem(none, 401, "Authorization");
  EXPECT_EQ(none->get_header_value("WWW-Authenticate"), "Bearer realm=\"doppel\"");
  auto unknown = c.Get("/api/v1/twins/motor-1", f.auth("not-a-token"));
  expect_problem(unknown, 401);
  EXPECT_NE(unknown->get_header_value("WWW-Authenticate").find("invalid_token"), std::string::npos);
  auto basic = c.Get("/api/v1/twins/motor-1", {{"Authorization", "Basic " + kAdmin}});
  expect_problem(basic, 401);
  // The hash itself is no token.
  expect_problem(c.Get("/api/v1/twins/motor-1", f.auth(sha256_hex_for_test(kAdmin))), 401);
  // Reader reads, but may not steer or create.
  auto ok = c.Get("/api/v1/twins/motor-1", f.auth(kReader));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  std::string patch = R"([{"op":"replace","path":"/targetSpeed","value":1200}])";
  expect_problem(c.Patch("/api/v1/twins/motor-1/desired", f.auth(kReader), patch,
                         "application/json-patch+json"),
                 403);
  expect_problem(c.Post("/api/v1/twins/motor-1/commands/reduceLoad", f.auth(kReader), "20",
                        "application/json"),
                 403);
  // Operator steers, may not create or delete.
  auto patched = c.Patch("/api/v1/twins/motor-1/desired", f.auth(kOperator), patch,
                         "application/json-patch+json");
  ASSERT_TRUE(patched);
  EXPECT_EQ(patched->status, 200) << patched->body;
  std::string twin = R"({"model":"dtmi:example:factory:Motor;1"})";
  auto low = c.Put("/api/v1/twins/motor-new", f.auth(kOperator), twin, "application/json");
  expect_problem(low, 403);
  EXPECT_NE(low->body.find("admin"), std::string::npos) << low->body;
  expect_problem(c.Delete("/api/v1/twins/motor-12", f.auth(kOperator)), 403);
  // Admin does everything.
  auto created = c.Put("/api/v1/twins/motor-new", f.auth(kAdmin), twin, "application/json");
  ASSERT_TRUE(created);
  EXPECT_EQ(created->status, 201) << created->body;
  // Probes are open; metrics are data and need a token.
  EXPECT_EQ(c.Get("/healthz")->status, 200);
  EXPECT_EQ(c.Get("/readyz")->status, 200);
  expect_problem(c.Get("/metrics"), 401);
  EXPECT_EQ(c.Get("/metrics", f.auth(kReader))->status, 200);
  expect_problem(c.Get("/api/v1/events"), 401);
  EXPECT_NE(f.metric_text().find("doppel_api_auth_failures_total 10"), std::string::npos)
      << f.metric_text();
}

TEST(ApiAuth, TokensFileIsReadAgainOnReloadAndABadOneChangesNothing) {
  ApiFixture f;
  auto& c = *f.client;
  const std::string fresh = "fresh-token-after-reload";
  auto status_of = [&](const std::string& token) {
    auto res = c.Get("/api/v1/twins/motor-1", f.auth(token));
    return res ? res->status : -1;
  };
  EXPECT_EQ(status_of(fresh), 401);
  EXPECT_EQ(status_of(kReader), 200);
  // The reader's line is gone, a new one is there.
  std::ofstream(f.dir.path() / "tokens.txt") << sha256_hex_for_test(kAdmin) << " admin\n"
                                             << sha256_hex_for_test(fresh) << " reader rotated\n";
  ASSERT_TRUE(f.server->reload_tokens());
  EXPECT_EQ(status_of(fresh), 200);
  EXPECT_EQ(status_of(kReader), 401);
  // A file with an error is refused whole, naming the line; the tokens in force stay.
  std::ofstream(f.dir.path() / "tokens.txt") << "# rotated badly\n" << fresh << " reader\n";
  sdk::Status s = f.server->reload_tokens();
  EXPECT_FALSE(s);
  EXPECT_NE(s.to_string().find("tokens.txt:2"), std::string::npos) << s.to_string();
  EXPECT_EQ(s.to_string().find(fresh), std::string::npos) << "the token is echoed";
  EXPECT_EQ(status_of(fresh), 200);
}

TEST(ApiAuth, NoneMustBeExplicitAndThenServesWithoutTokens) {
  ApiFixture f("{listen: \"127.0.0.1:0\", auth: none}");
  auto res = f.client->Get("/api/v1/twins/motor-1");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
}

TEST(ApiConfig, ErrorsNameTheKeyAndSuggest) {
  doppel::testing::TempDir dir;
  auto parse = [&](const std::string& api) {
    auto load = runtime::load_deployment_text(
        "deploy.yaml",
        "apiVersion: doppel/v1\nname: t\nmodels: [\"" DOPPEL_SOURCE_DIR
        "/examples/models/factory\"]\napi: " +
            api + "\n",
        dir.path());
    EXPECT_TRUE(load.ok());
    return parse_api_config(load.deployment->api.node(), dir.path());
  };
  auto missing = parse("{listen: \"127.0.0.1:8080\"}");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.status().message().find("auth: none"), std::string::npos)
      << missing.status().message();
  auto typo = parse("{auth: none, lisen: \"127.0.0.1:1\"}");
  ASSERT_FALSE(typo);
  EXPECT_NE(typo.status().message().find("did you mean 'listen'"), std::string::npos)
      << typo.status().message();
  EXPECT_NE(typo.status().message().find("deploy.yaml:4:"), std::string::npos)
      << typo.status().message();
  auto port = parse("{auth: none, listen: \"localhost:99999\"}");
  ASSERT_FALSE(port);
  EXPECT_NE(port.status().message().find("api.listen"), std::string::npos);
  auto tls = parse("{auth: none, tls: {cert: a.pem}}");
  ASSERT_FALSE(tls);
  EXPECT_NE(tls.status().message().find("api.tls needs key"), std::string::npos)
      << tls.status().message();
  auto ok = parse("{tokens_file: t.txt, listen: \"0.0.0.0:9000\", max_body_bytes: 10}");
  ASSERT_TRUE(ok) << ok.status().message();
  EXPECT_EQ(ok->host, "0.0.0.0");
  EXPECT_EQ(ok->port, 9000);
  EXPECT_EQ(ok->tokens_file, dir.path() / "t.txt");
  EXPECT_EQ(ok->max_body_bytes, 10u);
  EXPECT_TRUE(ok->auth);
}

TEST(ApiConfig, PlainTokenInTheFileIsRefusedAtStart) {
  doppel::testing::TempDir dir;
  std::ofstream(dir.path() / "tokens.txt") << "# comment\n\nmy-plain-token admin\n";
  ApiConfig c;
  c.port = 0;
  c.tokens_file = dir.path() / "tokens.txt";
  ApiServer server(c);
  ApiFixture f("{listen: \"127.0.0.1:0\", auth: none}");  // any running runtime
  sdk::Status s = server.start(*f.rt);
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("tokens.txt:3"), std::string::npos) << s.message();
  EXPECT_EQ(s.message().find("my-plain-token"), std::string::npos) << "never echo a token";
}

TEST(ApiTwins, GetHasStateVersionsAndETag) {
  ApiFixture f;
  twin::SlotWrite w{"temperature", twin::Value::number(71.5), 0};
  ASSERT_TRUE(f.rt->graph().report("motor-2", std::span(&w, 1)));
  auto res = f.client->Get("/api/v1/twins/motor-2", f.auth(kReader));
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
  auto d = json(res->body);
  EXPECT_STREQ(d["id"].GetString(), "motor-2");
  EXPECT_STREQ(d["model"].GetString(), "dtmi:example:factory:Motor;1");
  EXPECT_EQ(res->get_header_value("ETag"), "\"" + std::to_string(d["version"].GetUint64()) + "\"");
  EXPECT_EQ(d["properties"]["ratedPower"]["reported"].GetDouble(), 7.5);
  EXPECT_FALSE(d["properties"]["ratedPower"]["writable"].GetBool());
  EXPECT_STREQ(d["properties"]["targetSpeed"]["sync"].GetString(), "none");
  EXPECT_EQ(d["telemetry"]["temperature"]["value"].GetDouble(), 71.5);
  EXPECT_TRUE(d["telemetry"]["bearing/temperature"]["value"].IsNull());
  EXPECT_TRUE(d["stale"].IsBool());
  expect_problem(f.client->Get("/api/v1/twins/nope", f.auth(kReader)), 404, "id");
  expect_problem(f.client->Get("/api/v1/nothing-here", f.auth(kReader)), 404);
}

TEST(ApiTwins, PatchDesiredWithIfMatchAndEveryRefusal) {
  ApiFixture f;
  auto& c = *f.client;
  auto h = f.auth(kOperator);
  auto get = c.Get("/api/v1/twins/motor-3", h);
  std::string etag = get->get_header_value("ETag");
  auto patch = [&](const std::string& body, const std::string& if_match = "") {
    auto headers = h;
    if (!if_match.empty()) headers.emplace("If-Match", if_match);
    return c.Patch("/api/v1/twins/motor-3/desired", headers, body, "application/json-patch+json");
  };
  auto ok = patch(R"([{"op":"replace","path":"/targetSpeed","value":1500}])", etag);
  ASSERT_TRUE(ok);
  ASSERT_EQ(ok->status, 200) << ok->body;
  EXPECT_NE(ok->get_header_value("ETag"), etag);
  // The same (now old) ETag again: 412.
  expect_problem(patch(R"([{"op":"replace","path":"/targetSpeed","value":1600}])", etag), 412,
                 "If-Match");
  expect_problem(patch(R"([{"op":"replace","path":"/targetSpeed","value":1600}])", "\"x\""), 400,
                 "If-Match");
  expect_problem(patch(R"([{"op":"replace","path":"/targetSpeed","value":"fast"}])"), 400,
                 "/0/value");
  expect_problem(patch(R"([{"op":"add","path":"/targetSpeed","value":1},
                           {"op":"replace","path":"/ratedPower","value":3}])"),
                 400, "/1/path");
  expect_problem(patch(R"([{"op":"replace","path":"/nope","value":3}])"), 400, "/0/path");
  expect_problem(patch(R"([{"op":"remove","path":"/targetSpeed"}])"), 400, "/0/op");
  expect_problem(patch(R"([{"op":"replace","path":"/targetSpeed"}])"), 400, "/0/value");
  expect_problem(patch(R"({"targetSpeed": 1})"), 400, "/");
  expect_problem(patch(R"([{"op":"replace",)"), 400);
  expect_problem(c.Patch("/api/v1/twins/ghost/desired", h, "[]", "application/json"), 404);
  // Nothing refused was applied: the desired value is the accepted one, pending.
  auto d = json(c.Get("/api/v1/twins/motor-3", h)->body);
  EXPECT_EQ(d["properties"]["targetSpeed"]["desired"].GetDouble(), 1500);
  EXPECT_STRNE(d["properties"]["targetSpeed"]["sync"].GetString(), "none");
}

TEST(ApiTwins, OversizedBodyIs413) {
  ApiFixture f;  // max_body_bytes: 4096
  std::string big =
      R"([{"op":"replace","path":"/targetSpeed","value":")" + std::string(8000, 'x') + "\"}]";
  auto res =
      f.client->Patch("/api/v1/twins/motor-1/desired", f.auth(kOperator), big, "application/json");
  expect_problem(res, 413);
}

TEST(ApiTwins, QueryPagesThroughEveryTwin) {
  ApiFixture f;
  std::set<std::string> ids;
  std::string continuation;
  int pages = 0;
  do {
    std::string body =
        R"J({"query":"SELECT T FROM DIGITALTWINS T WHERE IS_OF_MODEL(T, 'dtmi:example:factory:Motor;1')","page_size":5)J";
    if (!continuation.empty()) body += ",\"continuation\":\"" + continuation + "\"";
    body += "}";
    auto res = f.client->Post("/api/v1/query", f.auth(kReader), body, "application/json");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
    auto d = json(res->body);
    EXPECT_LE(d["items"].Size(), 5u);
    for (const auto& row : d["items"].GetArray())
      ids.insert(row["T"]["$dtId"].GetString());
    continuation = d["continuation"].IsNull() ? "" : d["continuation"].GetString();
    ASSERT_LT(++pages, 10);
  } while (!continuation.empty());
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(ids.size(), 12u);
  expect_problem(f.client->Post("/api/v1/query", f.auth(kReader),
                                R"({"query":"SELECT T FROM WHERE"})", "application/json"),
                 400, "/query");
  expect_problem(
      f.client->Post("/api/v1/query", f.auth(kReader), R"({"query":1})", "application/json"), 400,
      "/query");
  expect_problem(f.client->Post("/api/v1/query", f.auth(kReader), R"({"query":"x","size":1})",
                                "application/json"),
                 400, "/size");
  expect_problem(f.client->Post("/api/v1/query", f.auth(kReader), "{oops", "application/json"),
                 400);
}

TEST(ApiTwins, CreateRelateAndDelete) {
  ApiFixture f;
  auto& c = *f.client;
  auto h = f.auth(kAdmin);
  auto created = c.Put("/api/v1/twins/motor-x", h,
                       R"({"model":"dtmi:example:factory:Motor;1","properties":{"ratedPower":11,
                           "bearing":{"lubricatedAt":"2026-01-01T00:00:00Z"}},
                           "expectedUpdatePeriod":"10s"})",
                       "application/json");
  ASSERT_TRUE(created);
  ASSERT_EQ(created->status, 201) << created->body;
  auto d = json(created->body);
  EXPECT_EQ(d["properties"]["ratedPower"]["reported"].GetDouble(), 11);
  EXPECT_STREQ(d["properties"]["bearing/lubricatedAt"]["reported"].GetString(),
               "2026-01-01T00:00:00Z");
  EXPECT_EQ(d["expectedUpdatePeriodSeconds"].GetDouble(), 10);
  expect_problem(c.Put("/api/v1/twins/motor-x", h, R"({"model":"dtmi:example:factory:Motor;1"})",
                       "application/json"),
                 409);
  expect_problem(
      c.Put("/api/v1/twins/motor-y", h, R"({"model":"dtmi:nope;1"})", "application/json"), 400,
      "/model");
  expect_problem(
      c.Put("/api/v1/twins/motor-y", h,
            R"({"model":"dtmi:example:factory:Motor;1","properties":{"ratedPower":"high"}})",
            "application/json"),
      400, "/properties/ratedPower");
  expect_problem(c.Put("/api/v1/twins/motor-y", h,
                       R"({"model":"dtmi:example:factory:Motor;1","properties":{"speed":1}})",
                       "application/json"),
                 400, "/properties/speed");

  auto rel = c.Put("/api/v1/twins/line-1/relationships/has-x", h,
                   R"({"name":"contains","target":"motor-x","properties":{"position":4}})",
                   "application/json");
  ASSERT_TRUE(rel);
  ASSERT_EQ(rel->status, 201) << rel->body;
  expect_problem(c.Put("/api/v1/twins/line-1/relationships/r2", h,
                       R"({"name":"feeds","target":"motor-x"})", "application/json"),
                 400, "/name");
  expect_problem(c.Put("/api/v1/twins/line-1/relationships/r2", h,
                       R"({"name":"contains","target":"ghost"})", "application/json"),
                 400, "/target");
  auto list = json(c.Get("/api/v1/twins/motor-x/relationships", f.auth(kReader))->body);
  ASSERT_EQ(list["incoming"].Size(), 1u);
  EXPECT_STREQ(list["incoming"][0]["source"].GetString(), "line-1");
  EXPECT_STREQ(list["incoming"][0]["id"].GetString(), "has-x");
  EXPECT_EQ(list["incoming"][0]["properties"]["position"].GetInt(), 4);
  auto line = json(c.Get("/api/v1/twins/line-1/relationships", f.auth(kReader))->body);
  EXPECT_EQ(line["outgoing"].Size(), 4u);

  expect_problem(c.Delete("/api/v1/twins/motor-x", h), 409, "cascade");
  EXPECT_EQ(c.Delete("/api/v1/twins/line-1/relationships/has-x", h)->status, 204);
  expect_problem(c.Delete("/api/v1/twins/line-1/relationships/has-x", h), 404);
  EXPECT_EQ(c.Delete("/api/v1/twins/motor-1?cascade=true", h)->status, 204);
  expect_problem(c.Get("/api/v1/twins/motor-1", h), 404);
  EXPECT_EQ(c.Delete("/api/v1/twins/motor-x", h)->status, 204);
}

TEST(ApiCommands, ResponseInvalidUnknownAndTimeout) {
  ApiFixture f;
  auto h = f.auth(kOperator);
  auto ok =
      f.client->Post("/api/v1/twins/motor-1/commands/reduceLoad", h, "20", "application/json");
  ASSERT_TRUE(ok);
  ASSERT_EQ(ok->status, 200) << ok->body;
  auto d = json(ok->body);
  EXPECT_TRUE(d["response"].GetBool());
  EXPECT_FALSE(std::string(d["correlationId"].GetString()).empty());
  expect_problem(f.client->Post("/api/v1/twins/motor-1/commands/reduceLoad", h, "\"lots\"",
                                "application/json"),
                 400);
  expect_problem(
      f.client->Post("/api/v1/twins/motor-1/commands/reduceLoad", h, "{20", "application/json"),
      400);
  expect_problem(
      f.client->Post("/api/v1/twins/motor-1/commands/explode", h, "1", "application/json"), 404,
      "name");
  expect_problem(
      f.client->Post("/api/v1/twins/ghost/commands/reduceLoad", h, "1", "application/json"), 404,
      "id");
  expect_problem(f.client->Post("/api/v1/twins/motor-1/commands/reduceLoad?timeout=forever", h, "1",
                                "application/json"),
                 400, "timeout");

  ApiFixture silent("{listen: \"127.0.0.1:0\", auth: none}", "{silent: true}");
  auto late = silent.client->Post("/api/v1/twins/motor-1/commands/reduceLoad?timeout=100ms", "20",
                                  "application/json");
  expect_problem(late, 504);
}

TEST(ApiHistory, AggregatesPerStep) {
  ApiFixture f;
  // Two 10 s buckets: 1,2,3 then 10,20; a minute ago (history keeps a retention window).
  const sdk::Timestamp now = f.rt->graph().clock().now();
  const sdk::Timestamp t0 = (now - 60 * sdk::kSecond) / (10 * sdk::kSecond) * (10 * sdk::kSecond);
  const double values[] = {1, 2, 3, 10, 20};
  const sdk::Timestamp times[] = {t0, t0 + 2 * sdk::kSecond, t0 + 4 * sdk::kSecond,
                                  t0 + 11 * sdk::kSecond, t0 + 15 * sdk::kSecond};
  // Through the update pipeline, as a protocol plugin's messages go (it commits to storage).
  std::atomic<int> applied{0};
  for (int i = 0; i < 5; ++i) {
    runtime::TwinUpdate u;
    u.twin = "motor-4";
    u.writes.push_back({"temperature", twin::Value::number(values[i]), times[i]});
    f.rt->pipeline().submit(std::move(u), [&](const sdk::Status& s, std::uint64_t) {
      EXPECT_TRUE(s) << s.to_string();
      ++applied;
    });
  }
  ASSERT_TRUE(wait_until([&] { return applied.load() == 5; }));
  ASSERT_TRUE(f.rt->flush());
  std::time_t from_secs = static_cast<std::time_t>(t0 / sdk::kSecond);
  std::tm tm{};
  gmtime_r(&from_secs, &tm);
  char from[32];
  std::strftime(from, sizeof from, "%Y-%m-%dT%H:%M:%SZ", &tm);
  auto res = f.client->Get(
      "/api/v1/twins/motor-4/telemetry/temperature/history?from=" + std::string(from) +
          "&to=" + std::to_string((t0 + 20 * sdk::kSecond) / sdk::kMillisecond) + "&step=10s",
      f.auth(kReader));
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  auto d = json(res->body);
  ASSERT_EQ(d["rows"].Size(), 2u) << res->body;
  EXPECT_EQ(d["rows"][0]["count"].GetUint64(), 3u);
  EXPECT_EQ(d["rows"][0]["min"].GetDouble(), 1);
  EXPECT_EQ(d["rows"][0]["max"].GetDouble(), 3);
  EXPECT_EQ(d["rows"][0]["avg"].GetDouble(), 2);
  EXPECT_EQ(d["rows"][1]["last"].GetDouble(), 20);
  EXPECT_EQ(d["rows"][1]["avg"].GetDouble(), 15);
  expect_problem(
      f.client->Get("/api/v1/twins/motor-4/telemetry/ratedPower/history", f.auth(kReader)), 404,
      "path");
  expect_problem(f.client->Get("/api/v1/twins/motor-4/telemetry/temperature/history?step=often",
                               f.auth(kReader)),
                 400, "step");
  auto comp =
      f.client->Get("/api/v1/twins/motor-4/telemetry/bearing/temperature/history", f.auth(kReader));
  ASSERT_TRUE(comp);
  EXPECT_EQ(comp->status, 200) << comp->body;
}

struct Done final : sdk::WriteCallback {
  std::atomic<bool> finished{false};
  void done(const sdk::Status&) noexcept override { finished.store(true); }
};

std::string big_endian(std::uint64_t v) {
  std::string s(8, '\0');
  for (int i = 7; i >= 0; --i, v >>= 8)
    s[static_cast<std::size_t>(i)] = static_cast<char>(v & 0xff);
  return s;
}

TEST(ApiDeadLetters, NewestFirstAndCountsByReason) {
  ApiFixture f;
  std::vector<std::string> keys, values;
  const char* reasons[] = {"not-json", "unknown-twin", "not-json"};
  for (int i = 0; i < 3; ++i) {
    keys.push_back(big_endian(1000 + i) + big_endian(i + 1));
    values.push_back("{\"time\":" + std::to_string(1'800'000'000'000'000'000LL + i) +
                     ",\"plugin\":\"devices\",\"topic\":\"t/" + std::to_string(i) +
                     "\",\"reason\":\"" + reasons[i] + "\",\"message\":\"m\",\"payload\":\"p\"}");
  }
  std::vector<sdk::WriteOp> ops;
  for (int i = 0; i < 3; ++i)
    ops.push_back({sdk::Table::kDeadLetters, false, keys[i], values[i]});
  Done done;
  f.rt->storage().write({ops, {}}, &done);
  ASSERT_TRUE(wait_until([&] { return done.finished.load(); }));
  auto res = f.client->Get("/api/v1/dead-letters?limit=2", f.auth(kReader));
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  auto d = json(res->body);
  ASSERT_EQ(d["items"].Size(), 2u);
  EXPECT_STREQ(d["items"][0]["topic"].GetString(), "t/2");
  EXPECT_STREQ(d["items"][1]["topic"].GetString(), "t/1");
  EXPECT_EQ(d["total"].GetUint64(), 3u);
  auto counts = json(f.client->Get("/api/v1/dead-letters/counts", f.auth(kReader))->body);
  EXPECT_EQ(counts["total"].GetUint64(), 3u);
  EXPECT_EQ(counts["byReason"]["not-json"].GetUint64(), 2u);
  EXPECT_EQ(counts["byReason"]["unknown-twin"].GetUint64(), 1u);
  expect_problem(f.client->Get("/api/v1/dead-letters?limit=0", f.auth(kReader)), 400, "limit");
}

TEST(ApiModels, ListAndFlattenedContents) {
  ApiFixture f;
  auto list = json(f.client->Get("/api/v1/models", f.auth(kReader))->body);
  std::set<std::string> ids;
  for (const auto& m : list["items"].GetArray())
    ids.insert(m["id"].GetString());
  EXPECT_TRUE(ids.count("dtmi:example:factory:Motor;1"));
  auto res = f.client->Get("/api/v1/models/dtmi:example:factory:Motor;1", f.auth(kReader));
  ASSERT_EQ(res->status, 200) << res->body;
  auto d = json(res->body);
  bool writable = false, command = false;
  for (const auto& c : d["contents"].GetArray()) {
    if (std::string(c["name"].GetString()) == "targetSpeed") writable = c["writable"].GetBool();
    if (std::string(c["name"].GetString()) == "reduceLoad")
      command = c.HasMember("requestJsonSchema");
  }
  EXPECT_TRUE(writable);
  EXPECT_TRUE(command);
  expect_problem(f.client->Get("/api/v1/models/dtmi:nope;1", f.auth(kReader)), 404, "id");
}

TEST(ApiEvents, StreamDeliversMatchingChangesOnly) {
  ApiFixture f;
  std::mutex m;
  std::string received;
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    httplib::Client c("127.0.0.1", f.server->port());
    c.set_read_timeout(10, 0);
    c.Get("/api/v1/events?twin=motor-5", f.auth(kReader), [&](const char* data, std::size_t n) {
      std::lock_guard lock(m);
      received.append(data, n);
      return !stop.load();
    });
  });
  auto seen = [&](const std::string& what) {
    std::lock_guard lock(m);
    return received.find(what) != std::string::npos;
  };
  ASSERT_TRUE(wait_until([&] { return seen(": connected"); }));
  twin::SlotWrite other{"temperature", twin::Value::number(1), 0};
  ASSERT_TRUE(f.rt->graph().report("motor-6", std::span(&other, 1)));
  twin::SlotWrite w{"temperature", twin::Value::number(88.25), 0};
  ASSERT_TRUE(f.rt->graph().report("motor-5", std::span(&w, 1)));
  ASSERT_TRUE(wait_until([&] { return seen("88.25"); })) << received;
  twin::SlotWrite d{"targetSpeed", twin::Value::number(900), 0};
  ASSERT_TRUE(f.rt->desire("motor-5", std::span(&d, 1)));
  ASSERT_TRUE(wait_until([&] { return seen("event: desired"); })) << received;
  stop = true;
  twin::SlotWrite last{"temperature", twin::Value::number(2), 0};
  ASSERT_TRUE(f.rt->graph().report("motor-5", std::span(&last, 1)));  // wakes the reader
  reader.join();
  std::lock_guard lock(m);
  EXPECT_NE(received.find("event: reported\ndata: {\"kind\":\"reported\",\"twin\":\"motor-5\""),
            std::string::npos)
      << received;
  EXPECT_EQ(received.find("motor-6"), std::string::npos) << received;
}

TEST(ApiEvents, ServerStopEndsOpenStreams) {
  auto f = std::make_unique<ApiFixture>("{listen: \"127.0.0.1:0\", auth: none}");
  std::atomic<bool> connected{false};
  std::thread reader([&] {
    httplib::Client c("127.0.0.1", f->server->port());
    c.Get("/api/v1/events", [&](const char*, std::size_t) {
      connected = true;
      return true;
    });
  });
  ASSERT_TRUE(wait_until([&] { return connected.load(); }));
  auto begin = std::chrono::steady_clock::now();
  f->server->stop();
  reader.join();
  EXPECT_LT(std::chrono::steady_clock::now() - begin, std::chrono::seconds(5));
}

TEST(ApiMetrics, PrometheusTextWithRequestCountersAndBuckets) {
  ApiFixture f;
  for (int i = 0; i < 3; ++i)
    f.client->Get("/api/v1/twins/motor-1", f.auth(kReader));
  // A request is counted after its response is written, on the server's thread: the client
  // may see the third response before it is counted.
  ASSERT_TRUE(wait_until([&] {
    return f.metric_text().find("doppel_api_request_duration_seconds_bucket{le=\"+Inf\"} 3\n") !=
           std::string::npos;
  })) << f.metric_text();
  auto res = f.client->Get("/metrics", f.auth(kReader));
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type").rfind("text/plain; version=0.0.4", 0), 0u);
  const std::string& t = res->body;
  EXPECT_NE(t.find("# TYPE doppel_api_requests_total counter\n"), std::string::npos) << t;
  EXPECT_NE(t.find("doppel_api_requests_total{method=\"GET\",route=\"/api/v1/twins/"
                   "{id}\",status=\"200\"} 3\n"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("doppel_api_request_duration_seconds_bucket{le=\"+Inf\"} 3\n"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("doppel_twins{model=\"dtmi:example:factory:Motor;1\",stale=\"false\"} 12\n"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("# TYPE doppel_storage_samples gauge\n"), std::string::npos) << t;
  EXPECT_NE(t.find("doppel_storage_bytes{where=\"memory\"} "), std::string::npos) << t;
  // Every sample line is `name{labels} value` or `name value`.
  std::istringstream lines(t);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto sp = line.rfind(' ');
    ASSERT_NE(sp, std::string::npos) << line;
    EXPECT_NO_THROW((void)std::stod(line.substr(sp + 1))) << line;
  }
}

}  // namespace
}  // namespace doppel::api::testing

namespace doppel::api::testing {
namespace {

TEST(ApiTls, ServesHttpsWithTheConfiguredCertificate) {
  doppel::testing::TempDir keys;
  std::string cmd =
      "openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -days 1 -keyout " +
      (keys.path() / "key.pem").string() + " -out " + (keys.path() / "cert.pem").string() +
      " >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  ApiFixture f("{listen: \"127.0.0.1:0\", auth: none, tls: {cert: \"" +
               (keys.path() / "cert.pem").string() + "\", key: \"" +
               (keys.path() / "key.pem").string() + "\"}}");
  EXPECT_EQ(f.server->url().rfind("https://127.0.0.1:", 0), 0u) << f.server->url();
  httplib::SSLClient tls("127.0.0.1", f.server->port());
  tls.set_ca_cert_path((keys.path() / "cert.pem").c_str());
  tls.enable_server_certificate_verification(true);
  auto res = tls.Get("/api/v1/twins/motor-1");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  // Plain HTTP on the TLS port gets no answer.
  auto plain = f.client->Get("/healthz");
  EXPECT_FALSE(plain && plain->status == 200);

  ApiConfig bad;
  bad.port = 0;
  bad.auth = false;
  bad.tls = TlsConfig{keys.path() / "missing.pem", keys.path() / "key.pem"};
  ApiServer server(bad);
  sdk::Status s = server.start(*f.rt);
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("missing.pem"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace doppel::api::testing

#include "event_hub.hpp"

namespace doppel::api::testing {
namespace {

TEST(ApiEvents, SlowSubscriberLosesEventsAndNeverBlocksTheGraph) {
  ApiFixture f;
  auto* hub = static_cast<detail::EventHub*>(f.server->listener());
  auto sub = hub->subscribe({"motor-9", ""}, 2, 10);  // room for two events, never read
  ASSERT_TRUE(sub);
  for (int i = 0; i < 5; ++i) {
    twin::SlotWrite w{"temperature", twin::Value::number(i), 0};
    ASSERT_TRUE(f.rt->graph().report("motor-9", std::span(&w, 1)));
  }
  EXPECT_EQ(sub->dropped(), 3u);
  std::vector<std::string> frames;
  EXPECT_TRUE(sub->wait(frames, std::chrono::milliseconds(0)));
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_NE(frames[0].find("\"temperature\":0"), std::string::npos) << frames[0];
  EXPECT_NE(f.metric_text().find("doppel_api_events_dropped_total 3\n"), std::string::npos);
  hub->unsubscribe(sub);
}

TEST(ApiEvents, StreamsBeyondTheLimitGet503) {
  ApiFixture f("{listen: \"127.0.0.1:0\", auth: none, max_event_subscribers: 1}");
  std::atomic<bool> connected{false};
  std::atomic<bool> stop{false};
  std::thread first([&] {
    httplib::Client c("127.0.0.1", f.server->port());
    c.Get("/api/v1/events", [&](const char*, std::size_t) {
      connected = true;
      return !stop.load();
    });
  });
  ASSERT_TRUE(wait_until([&] { return connected.load(); }));
  auto second = f.client->Get("/api/v1/events");
  expect_problem(second, 503);
  EXPECT_EQ(second->get_header_value("Retry-After"), "5");
  stop = true;
  twin::SlotWrite w{"temperature", twin::Value::number(1), 0};
  ASSERT_TRUE(f.rt->graph().report("motor-1", std::span(&w, 1)));  // wakes the first stream
  first.join();
}

}  // namespace
}  // namespace doppel::api::testing

namespace doppel::api::testing {
namespace {

TEST(ApiConfig, BusyPortIsAnErrorAndTheFirstServerKeepsServing) {
  ApiFixture f("{listen: \"127.0.0.1:0\", auth: none}");
  ApiConfig c;
  c.auth = false;
  c.port = f.server->port();
  ApiServer second(c);
  sdk::Status s = second.start(*f.rt);
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("127.0.0.1:" + std::to_string(c.port)), std::string::npos)
      << s.message();
  auto res = f.client->Get("/healthz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
}

// ---- Per-twin ACL (docs/api.md, "Per-twin ACL") --------------------------------------------

std::vector<std::string> item_ids(const std::string& body) {
  auto d = json(body);
  std::vector<std::string> ids;
  for (const auto& row : d["items"].GetArray()) {
    if (row.HasMember("$dtId"))
      ids.emplace_back(row["$dtId"].GetString());
    else if (row.HasMember("T"))
      ids.emplace_back(row["T"]["$dtId"].GetString());
  }
  return ids;
}

std::string detail_of(const httplib::Result& res) {
  auto d = json(res->body);
  return d.HasMember("detail") ? d["detail"].GetString() : "";
}

TEST(ApiAcl, TwinRoutesOutsideThePrefixAre404LikeMissingTwins) {
  ApiFixture f;
  auto& c = *f.client;
  auto h = f.auth(kMotors1);
  for (const char* id : {"motor-1", "motor-10", "motor-12"}) {
    auto ok = c.Get(std::string("/api/v1/twins/") + id, h);
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->status, 200) << id << ": " << ok->body;
  }
  // Outside the ACL and missing look the same: no existence leaks.
  auto outside = c.Get("/api/v1/twins/motor-2", h);
  expect_problem(outside, 404, "id");
  auto missing = c.Get("/api/v1/twins/motor-19", h);
  expect_problem(missing, 404, "id");
  EXPECT_NE(detail_of(outside).find("within this token's ACL (twins=motor-1)"), std::string::npos)
      << outside->body;
  auto mask = [](std::string d, const std::string& id) {
    return d.replace(d.find(id), id.size(), "X");
  };
  EXPECT_EQ(mask(detail_of(outside), "motor-2"), mask(detail_of(missing), "motor-19"));
  expect_problem(c.Get("/api/v1/twins/line-1", h), 404);

  std::string patch = R"([{"op":"replace","path":"/targetSpeed","value":1200}])";
  expect_problem(c.Patch("/api/v1/twins/motor-2/desired", h, patch, "application/json-patch+json"),
                 404);
  auto patched = c.Patch("/api/v1/twins/motor-11/desired", h, patch, "application/json-patch+json");
  ASSERT_TRUE(patched);
  EXPECT_EQ(patched->status, 200) << patched->body;
  expect_problem(c.Post("/api/v1/twins/motor-2/commands/reduceLoad", h, "20", "application/json"),
                 404);
  auto cmd = c.Post("/api/v1/twins/motor-1/commands/reduceLoad", h, "20", "application/json");
  ASSERT_TRUE(cmd);
  EXPECT_EQ(cmd->status, 200) << cmd->body;
  expect_problem(c.Get("/api/v1/twins/motor-2/telemetry/temperature/history", h), 404);
  expect_problem(c.Get("/api/v1/twins/motor-2/relationships", h), 404);
  // The role still applies inside the ACL: an operator token may not delete.
  expect_problem(c.Delete("/api/v1/twins/motor-1", h), 403);
  // Relationships from line-1 (outside) are left out.
  auto rels = c.Get("/api/v1/twins/motor-1/relationships", h);
  ASSERT_TRUE(rels);
  ASSERT_EQ(rels->status, 200) << rels->body;
  EXPECT_EQ(json(rels->body)["incoming"].Size(), 0u) << rels->body;
  EXPECT_EQ(
      json(c.Get("/api/v1/twins/motor-1/relationships", f.auth(kReader))->body)["incoming"].Size(),
      1u);
  // Deployment-wide lists cannot be cut by twin.
  auto dl = c.Get("/api/v1/dead-letters", h);
  expect_problem(dl, 403);
  EXPECT_NE(dl->body.find("outside-acl"), std::string::npos) << dl->body;
  // Models and the token-less probes are not twin data.
  EXPECT_EQ(c.Get("/api/v1/models", h)->status, 200);
}

TEST(ApiAcl, QueriesSeeOnlyTheTwinsInTheAcl) {
  ApiFixture f;
  auto& c = *f.client;
  auto q = [&](const std::string& token, const std::string& query) {
    return c.Post("/api/v1/query", f.auth(token),
                  "{\"query\": \"" + query + "\", \"page_size\": 100}", "application/json");
  };
  std::vector<std::string> mine = {"motor-1", "motor-10", "motor-11", "motor-12"};
  auto all = q(kMotors1, "SELECT * FROM DIGITALTWINS");
  ASSERT_EQ(all->status, 200) << all->body;
  EXPECT_EQ(item_ids(all->body), mine);
  auto alias =
      q(kMotors1,
        "SELECT T FROM DIGITALTWINS T WHERE IS_OF_MODEL(T, 'dtmi:example:factory:Motor;1')");
  ASSERT_EQ(alias->status, 200) << alias->body;
  EXPECT_EQ(item_ids(alias->body), mine);
  auto ids = q(kMotors1, "SELECT T.$dtId FROM DIGITALTWINS T");
  ASSERT_EQ(ids->status, 200) << ids->body;
  EXPECT_EQ(item_ids(ids->body), mine);
  // line-1 is outside: no row reaches it, and no condition may read it either.
  auto match = q(kMotors1, "SELECT l, m FROM DIGITALTWINS MATCH (l)-[:contains]->(m)");
  ASSERT_EQ(match->status, 200) << match->body;
  EXPECT_EQ(json(match->body)["items"].Size(), 0u) << match->body;
  EXPECT_EQ(
      json(q(kAdmin, "SELECT l, m FROM DIGITALTWINS MATCH (l)-[:contains]->(m)")->body)["items"]
          .Size(),
      3u);
  auto probe = q(kMotors1,
                 "SELECT m.$dtId FROM DIGITALTWINS MATCH (m)<-[:contains]-(l) WHERE l.$dtId = "
                 "'line-1'");
  ASSERT_EQ(probe->status, 200) << probe->body;
  EXPECT_EQ(json(probe->body)["items"].Size(), 0u) << probe->body;
  // Aggregates and columns without $dtId are computed over the token's twins only.
  auto count = q(kMotors1, "SELECT COUNT() FROM DIGITALTWINS");
  ASSERT_EQ(count->status, 200) << count->body;
  EXPECT_EQ(json(count->body)["items"][0]["COUNT"].GetInt(), 4) << count->body;
  auto powers = q(kMotors1, "SELECT T.ratedPower FROM DIGITALTWINS T");
  ASSERT_EQ(powers->status, 200) << powers->body;
  EXPECT_EQ(json(powers->body)["items"].Size(), 4u) << powers->body;
  auto full = q(kAdmin, "SELECT COUNT() FROM DIGITALTWINS");
  ASSERT_EQ(full->status, 200) << full->body;
  EXPECT_EQ(json(full->body)["items"][0]["COUNT"].GetInt(), 13) << full->body;
  // Pages are cut after the ACL: a full page of the token's twins.
  auto page = c.Post("/api/v1/query", f.auth(kMotors1),
                     R"({"query": "SELECT T.$dtId FROM DIGITALTWINS T", "page_size": 3})",
                     "application/json");
  ASSERT_EQ(page->status, 200) << page->body;
  EXPECT_EQ(item_ids(page->body), (std::vector<std::string>{"motor-1", "motor-10", "motor-11"}));
  // Model ACL: ProductionLine twins only.
  auto lines = q(kLines, "SELECT * FROM DIGITALTWINS");
  ASSERT_EQ(lines->status, 200) << lines->body;
  EXPECT_EQ(item_ids(lines->body), std::vector<std::string>{"line-1"});
}

TEST(ApiAcl, CreationOutsideTheAclIs403AndModelAclsHideOtherModels) {
  ApiFixture f;
  auto& c = *f.client;
  std::string motor = R"({"model":"dtmi:example:factory:Motor;1"})";
  std::string line = R"({"model":"dtmi:example:factory:ProductionLine;1"})";
  auto h = f.auth(kNewMotors);
  auto created = c.Put("/api/v1/twins/new-1", h, motor, "application/json");
  ASSERT_TRUE(created);
  EXPECT_EQ(created->status, 201) << created->body;
  auto bad_id = c.Put("/api/v1/twins/other-1", h, motor, "application/json");
  expect_problem(bad_id, 403, "id");
  EXPECT_NE(bad_id->body.find("twins=new-,spare- models=dtmi:example:factory:Motor;1"),
            std::string::npos)
      << bad_id->body;
  expect_problem(c.Put("/api/v1/twins/spare-1", h, line, "application/json"), 403, "/model");
  EXPECT_EQ(c.Get("/api/v1/twins/other-1", f.auth(kAdmin))->status, 404) << "nothing created";
  // Relationships may not point outside the ACL (told as an unknown target).
  expect_problem(c.Put("/api/v1/twins/new-1/relationships/r1", h,
                       R"({"name":"contains","target":"motor-1"})", "application/json"),
                 400);
  EXPECT_EQ(c.Delete("/api/v1/twins/new-1", h)->status, 204);

  auto l = f.auth(kLines);
  EXPECT_EQ(c.Put("/api/v1/twins/line-2", l, line, "application/json")->status, 201);
  expect_problem(c.Put("/api/v1/twins/motor-x", l, motor, "application/json"), 403, "/model");
  EXPECT_EQ(c.Get("/api/v1/twins/line-1", l)->status, 200);
  expect_problem(c.Get("/api/v1/twins/motor-1", l), 404, "id");
  expect_problem(c.Delete("/api/v1/twins/motor-1", l), 404, "id");
  auto rels = json(c.Get("/api/v1/twins/line-1/relationships", l)->body);
  EXPECT_EQ(rels["outgoing"].Size(), 0u) << "the motors are outside the ACL";
  // A relationship to a twin outside the ACL cannot be removed through it either.
  expect_problem(c.Delete("/api/v1/twins/line-1/relationships/contains-motor-1", l), 404);
  EXPECT_EQ(c.Get("/api/v1/twins/line-1/relationships", f.auth(kAdmin))->status, 200);
  EXPECT_EQ(
      json(c.Get("/api/v1/twins/line-1/relationships", f.auth(kAdmin))->body)["outgoing"].Size(),
      3u);
}

TEST(ApiAcl, AlertsAndEventsAreFiltered) {
  ApiFixture f;
  auto& c = *f.client;
  for (const char* twin : {"motor-1", "motor-2"}) {
    sdk::Event e;
    e.type = "alert.raised";
    e.twin = twin;
    e.source = "hot";
    e.severity = "warning";
    e.time = f.rt->graph().clock().now();
    e.message = "too hot";
    f.rt->publish_event(e);
  }
  auto twins_of = [&](const std::string& path, const std::string& token) {
    std::set<std::string> out;
    auto res = c.Get(path, f.auth(token));
    EXPECT_EQ(res->status, 200) << res->body;
    auto doc = json(res->body);  // a range-for over a temporary's member outlives the temporary
    for (const auto& e : doc["items"].GetArray())
      out.insert(e["twin"].GetString());
    return out;
  };
  EXPECT_EQ(twins_of("/api/v1/alerts", kAdmin), (std::set<std::string>{"motor-1", "motor-2"}));
  EXPECT_EQ(twins_of("/api/v1/alerts", kMotors1), std::set<std::string>{"motor-1"});
  EXPECT_EQ(twins_of("/api/v1/events/recent", kMotors1), std::set<std::string>{"motor-1"});
  EXPECT_TRUE(twins_of("/api/v1/alerts", kLines).empty());
  expect_problem(
      c.Post("/api/v1/alerts/motor-2/hot/acknowledge", f.auth(kMotors1), "", "application/json"),
      404);
  auto ack =
      c.Post("/api/v1/alerts/motor-1/hot/acknowledge", f.auth(kMotors1), "", "application/json");
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->status, 204) << ack->body;

  // The live stream of an ACL token carries its twins' changes only.
  std::mutex m;
  std::string received;
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    httplib::Client sc("127.0.0.1", f.server->port());
    sc.set_read_timeout(10, 0);
    sc.Get("/api/v1/events", f.auth(kMotors1), [&](const char* data, std::size_t n) {
      std::lock_guard lock(m);
      received.append(data, n);
      return !stop.load();
    });
  });
  auto seen = [&](const std::string& what) {
    std::lock_guard lock(m);
    return received.find(what) != std::string::npos;
  };
  ASSERT_TRUE(wait_until([&] { return seen(": connected"); }));
  twin::SlotWrite other{"temperature", twin::Value::number(77.5), 0};
  ASSERT_TRUE(f.rt->graph().report("motor-2", std::span(&other, 1)));
  twin::SlotWrite mine{"temperature", twin::Value::number(66.25), 0};
  ASSERT_TRUE(f.rt->graph().report("motor-10", std::span(&mine, 1)));
  ASSERT_TRUE(wait_until([&] { return seen("66.25"); })) << received;
  stop = true;
  twin::SlotWrite last{"temperature", twin::Value::number(2), 0};
  ASSERT_TRUE(f.rt->graph().report("motor-10", std::span(&last, 1)));  // wakes the reader
  reader.join();
  std::lock_guard lock(m);
  EXPECT_EQ(received.find("motor-2"), std::string::npos) << received;
  EXPECT_EQ(received.find("77.5"), std::string::npos) << received;
}

TEST(ApiAcl, RelationshipEventsToTwinsOutsideTheAclAreNotStreamed) {
  ApiFixture f;
  auto* hub = static_cast<detail::EventHub*>(f.server->listener());
  detail::EventFilter lines;  // as kLines: line-1 in scope, its motors not
  lines.acl.models = {"dtmi:example:factory:ProductionLine;1"};
  auto limited = hub->subscribe(lines, 64, 10);
  auto everything = hub->subscribe({}, 64, 10);
  ASSERT_TRUE(limited && everything);
  auto& c = *f.client;
  auto added = c.Put("/api/v1/twins/line-1/relationships/contains-motor-5", f.auth(kAdmin),
                     R"({"name":"contains","target":"motor-5"})", "application/json");
  ASSERT_TRUE(added);
  ASSERT_EQ(added->status, 201) << added->body;
  auto removed = c.Delete("/api/v1/twins/line-1/relationships/contains-motor-5", f.auth(kAdmin));
  ASSERT_TRUE(removed);
  ASSERT_EQ(removed->status, 204) << removed->body;
  twin::SlotWrite w{"throughput", twin::Value::number(12), 0};
  ASSERT_TRUE(f.rt->graph().report("line-1", std::span(&w, 1)));

  auto kinds = [](detail::Subscription& s) {
    std::vector<std::string> frames, out;
    s.wait(frames, std::chrono::milliseconds(0));
    for (const auto& fr : frames)
      out.push_back(fr.substr(fr.find("event: ") + 7,
                              fr.find('\n', fr.find("event: ")) - fr.find("event: ") - 7));
    return out;
  };
  EXPECT_EQ(kinds(*everything),
            (std::vector<std::string>{"relationshipAdded", "relationshipRemoved", "reported"}));
  // The line's own change still reaches the ACL stream; the edges to motor-5 do not.
  EXPECT_EQ(kinds(*limited), std::vector<std::string>{"reported"});
  hub->unsubscribe(limited);
  hub->unsubscribe(everything);
}

TEST(ApiAcl, MalformedAclLinesAndUnknownModelsAreRefusedAtStart) {
  doppel::testing::TempDir dir;
  std::string h = sha256_hex_for_test("t");
  std::ofstream(dir.path() / "tokens.txt")
      << h << " reader a twins=\n"
      << sha256_hex_for_test("u") << " reader b zone=north\n"
      << sha256_hex_for_test("v") << " reader c models=Motor\n"
      << sha256_hex_for_test("w") << " reader d twins=a- twins=b-\n";
  auto bad = detail::TokenTable::load(dir.path() / "tokens.txt");
  ASSERT_FALSE(bad);
  for (const char* where : {"tokens.txt:1:", "tokens.txt:2:", "tokens.txt:3:", "tokens.txt:4:"})
    EXPECT_NE(bad.status().message().find(where), std::string::npos)
        << where << " in " << bad.status().message();

  std::ofstream(dir.path() / "ok.txt")
      << h << " operator night shift twins=a-,b- models=dtmi:x;1\n";
  auto ok = detail::TokenTable::load(dir.path() / "ok.txt");
  ASSERT_TRUE(ok) << ok.status().message();
  auto e = ok->find("t");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->name, "night shift");
  EXPECT_EQ(e->acl.prefixes, (std::vector<std::string>{"a-", "b-"}));
  EXPECT_EQ(e->acl.models, std::vector<std::string>{"dtmi:x;1"});

  // dtmi:x;1 is no loaded model: a typo, refused when the server starts.
  ApiConfig c;
  c.port = 0;
  c.tokens_file = dir.path() / "ok.txt";
  ApiServer server(c);
  ApiFixture f("{listen: \"127.0.0.1:0\", auth: none}");
  sdk::Status s = server.start(*f.rt);
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("ok.txt:1: models= names dtmi:x;1"), std::string::npos) << s.message();
}

// Every file in tests/data/deployments/bad-api/ holds one mistake in its api: block and says
// where it is reported ("# expect: LINE:COLUMN CODE"), as the loader's bad cases do.
class BadApiCase : public ::testing::TestWithParam<std::filesystem::path> {};

TEST_P(BadApiCase, IsReportedWhereItsHeaderSays) {
  std::ifstream in(GetParam());
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  std::smatch m;
  ASSERT_TRUE(std::regex_search(text, m, std::regex(R"(# expect: (\d+):(\d+) (\w+))")))
      << GetParam() << " has no '# expect: LINE:COLUMN CODE' header";
  std::string want = GetParam().string() + ":" + m[1].str() + ":" + m[2].str();
  std::string code = m[3];
  auto load = runtime::load_deployment(GetParam());
  ASSERT_TRUE(load.ok()) << "the mistake must be in the api: block only";
  std::vector<ApiConfigIssue> issues;
  auto config = parse_api_config(load.deployment->api.node(), GetParam().parent_path(), &issues);
  ASSERT_FALSE(config);
  std::string all;
  bool found = false;
  for (const auto& i : issues) {
    all += i.where + ": " + i.code + ": " + i.message + "\n";
    std::string_view w = i.where;
    if (i.code == code && w.substr(0, want.size()) == want &&
        (w.size() == want.size() || w[want.size()] == ' '))
      found = true;
  }
  EXPECT_TRUE(found) << "expected " << code << " at " << want << ", got:\n" << all;
  EXPECT_LE(issues.size(), 2u) << all;
}

std::vector<std::filesystem::path> bad_api_files() {
  std::vector<std::filesystem::path> out;
  for (const auto& e :
       std::filesystem::directory_iterator(DOPPEL_SOURCE_DIR "/tests/data/deployments/bad-api"))
    if (e.path().extension() == ".yaml") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

std::string bad_api_name(const ::testing::TestParamInfo<std::filesystem::path>& p) {
  std::string s = p.param.stem().string();
  for (char& ch : s)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return s;
}

INSTANTIATE_TEST_SUITE_P(Deployments, BadApiCase, ::testing::ValuesIn(bad_api_files()),
                         bad_api_name);

}  // namespace
}  // namespace doppel::api::testing
