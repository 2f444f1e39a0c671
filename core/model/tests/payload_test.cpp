#include "doppel/model/payload.hpp"

#include <gtest/gtest.h>

#include "test_models.hpp"

namespace doppel::model {
namespace {

using testing::errors_of;

class PayloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    result_ = testing::load({{"m.json", R"([
      {"@context": "dtmi:dtdl:context;3", "@id": "dtmi:ex:Machine;1", "@type": "Interface",
       "contents": [
         {"@type": "Telemetry", "name": "temperature", "schema": "double"},
         {"@type": "Telemetry", "name": "count", "schema": "integer"},
         {"@type": "Telemetry", "name": "ok", "schema": "boolean"},
         {"@type": "Telemetry", "name": "label", "schema": "string"},
         {"@type": "Telemetry", "name": "at", "schema": "dateTime"},
         {"@type": "Telemetry", "name": "state", "schema": {"@type": "Enum", "valueSchema": "string",
            "enumValues": [{"name": "run", "enumValue": "running"}, {"name": "stop", "enumValue": "stopped"}]}},
         {"@type": "Telemetry", "name": "spectrum", "schema": {"@type": "Object", "fields": [
            {"name": "rms", "schema": "double"},
            {"name": "bands", "schema": {"@type": "Array", "elementSchema": "double"}}]}},
         {"@type": "Telemetry", "name": "tags", "schema": {"@type": "Map",
            "mapKey": {"name": "k", "schema": "string"}, "mapValue": {"name": "v", "schema": "long"}}},
         {"@type": "Telemetry", "name": "where", "schema": "point"},
         {"@type": "Property", "name": "speed", "schema": "double", "writable": true},
         {"@type": "Component", "name": "motor", "schema": "dtmi:ex:Motor;1"},
         {"@type": "Command", "name": "setMode", "request": {"name": "mode", "schema": "integer"}}
       ]},
      {"@context": "dtmi:dtdl:context;3", "@id": "dtmi:ex:Motor;1", "@type": "Interface",
       "contents": [{"@type": "Telemetry", "name": "temperature", "schema": "double"},
                    {"@type": "Property", "name": "rated", "schema": "float"}]}
    ])"}});
    ASSERT_TRUE(result_.ok()) << errors_of(result_);
    validator_.emplace(*result_.registry->find("dtmi:ex:Machine;1"));
  }

  PayloadResult telemetry(std::string_view json) {
    return validator_->validate(json, PayloadKind::kTelemetry, scratch_);
  }
  std::string error_of(std::string_view json) {
    PayloadResult r = telemetry(json);
    if (r.ok) return "ok";
    return r.error->path + ": " + r.error->message;
  }

  LoadResult result_;
  std::optional<PayloadValidator> validator_;
  PayloadScratch scratch_;
};

TEST_F(PayloadTest, TypedValuesOfPrimitives) {
  PayloadResult r = telemetry(
      R"({"temperature": 81.5, "count": 3, "ok": true, "label": "a\"b", "at": "2024-05-01T12:00:00Z", "state": "running"})");
  ASSERT_TRUE(r.ok) << r.error->message;
  ASSERT_EQ(r.values.size(), 6u);
  EXPECT_EQ(r.values[0].content->name, "temperature");
  EXPECT_DOUBLE_EQ(r.values[0].number, 81.5);
  EXPECT_EQ(r.values[1].integer, 3);
  EXPECT_EQ(r.values[1].kind, SchemaKind::kInteger);
  EXPECT_TRUE(r.values[2].boolean);
  EXPECT_EQ(r.values[3].string, "a\"b");
  EXPECT_EQ(r.values[4].string, "2024-05-01T12:00:00Z");
  EXPECT_EQ(r.values[5].kind, SchemaKind::kEnum);
  EXPECT_EQ(r.values[5].string, "running");
}

TEST_F(PayloadTest, ComplexValuesKeepTheirJson) {
  PayloadResult r = telemetry(
      R"({"spectrum": {"rms": 1.5, "bands": [1, 2.5]}, "tags": {"a": 1}, "where": {"type": "Point", "coordinates": [47.6, -122.1]}})");
  ASSERT_TRUE(r.ok) << r.error->message;
  ASSERT_EQ(r.values.size(), 3u);
  EXPECT_EQ(r.values[0].kind, SchemaKind::kObject);
  EXPECT_EQ(r.values[0].json, R"({"rms": 1.5, "bands": [1, 2.5]})");
  EXPECT_EQ(r.values[1].json, R"({"a": 1})");
  EXPECT_EQ(r.values[2].kind, SchemaKind::kPoint);
}

TEST_F(PayloadTest, ComponentValuesNameTheirComponent) {
  PayloadResult r = telemetry(R"({"temperature": 20, "motor": {"temperature": 75.25}})");
  ASSERT_TRUE(r.ok) << r.error->message;
  ASSERT_EQ(r.values.size(), 2u);
  EXPECT_EQ(r.values[0].component, nullptr);
  ASSERT_NE(r.values[1].component, nullptr);
  EXPECT_EQ(r.values[1].component->name, "motor");
  EXPECT_DOUBLE_EQ(r.values[1].number, 75.25);
}

TEST_F(PayloadTest, ErrorsNameThePath) {
  EXPECT_EQ(error_of(R"({"motor": {"temperature": "hot"}})"),
            "$.motor.temperature: expected double, got string");
  EXPECT_EQ(error_of(R"({"count": 1.5})"), "$.count: expected integer, got number");
  EXPECT_EQ(error_of(R"({"count": 4294967296})"),
            "$.count: integer 4294967296 is out of the 32-bit range");
  EXPECT_EQ(error_of(R"({"state": "flying"})"),
            "$.state: 'flying' is not one of the enum values (running, stopped)");
  EXPECT_EQ(error_of(R"({"spectrum": {"bands": [1, "x"]}})"),
            "$.spectrum.bands[1]: expected double, got string");
  EXPECT_EQ(error_of(R"({"spectrum": {"rms": 1, "peak": 2}})").substr(0, 30),
            "$.spectrum.peak: unknown field");
  EXPECT_EQ(error_of(R"({"tags": {"a": "b"}})"), "$.tags.a: expected long, got string");
  EXPECT_EQ(error_of(R"({"at": "yesterday"})").substr(0, 30), "$.at: 'yesterday' is not an RF");
  EXPECT_EQ(error_of(R"({"humidity": 3})"),
            "$.humidity: 'humidity' is not a telemetry of interface dtmi:ex:Machine;1");
  EXPECT_EQ(error_of(R"({"where": {"type": "Polygon", "coordinates": [1, 2]}})"),
            "$.where.type: GeoJSON 'type' must be \"Point\"");
  EXPECT_EQ(error_of("[1]"), "$: a payload must be a JSON object");
  EXPECT_EQ(error_of("{\"temperature\": 1"),
            "$: not valid JSON at offset 17: Missing a comma or '}' after an object member.");
}

TEST_F(PayloadTest, Utf8IsValidated) {
  PayloadResult ok = telemetry("{\"label\": \"caf\xc3\xa9\"}");
  ASSERT_TRUE(ok.ok) << ok.error->message;
  EXPECT_EQ(ok.values[0].string, "caf\xc3\xa9");
  EXPECT_FALSE(telemetry("{\"label\": \"bad \xff\"}").ok);
}

TEST_F(PayloadTest, AllOrNothing) {
  PayloadResult r = telemetry(R"({"temperature": 1, "count": "x"})");
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(r.values.empty());
}

TEST_F(PayloadTest, PropertiesDocument) {
  PayloadResult r = validator_->validate(R"({"speed": 1200, "motor": {"rated": 5.5}})",
                                         PayloadKind::kProperties, scratch_);
  ASSERT_TRUE(r.ok) << r.error->message;
  EXPECT_EQ(r.values.size(), 2u);
  PayloadResult t =
      validator_->validate(R"({"temperature": 1})", PayloadKind::kProperties, scratch_);
  EXPECT_FALSE(t.ok);  // a telemetry is not a property
}

TEST_F(PayloadTest, CommandRequestValue) {
  const Content* cmd = validator_->interface().find("setMode");
  ASSERT_TRUE(cmd && cmd->request);
  EXPECT_TRUE(validator_->validate_value("7", *cmd->request->schema, scratch_).ok);
  PayloadResult bad = validator_->validate_value("\"x\"", *cmd->request->schema, scratch_);
  ASSERT_FALSE(bad.ok);
  EXPECT_EQ(bad.error->message, "expected integer, got string");
}

TEST(PayloadFormats, DatesTimesDurations) {
  EXPECT_TRUE(is_rfc3339_date("2024-02-29"));
  EXPECT_FALSE(is_rfc3339_date("2023-02-29"));
  EXPECT_FALSE(is_rfc3339_date("2024-13-01"));
  EXPECT_TRUE(is_rfc3339_date_time("2024-05-01T12:00:00.123+02:00"));
  EXPECT_FALSE(is_rfc3339_date_time("2024-05-01 12:00:00"));
  EXPECT_TRUE(is_rfc3339_time("23:59:60"));
  EXPECT_FALSE(is_rfc3339_time("24:00:00"));
  EXPECT_TRUE(is_iso8601_duration("PT5M"));
  EXPECT_TRUE(is_iso8601_duration("P1Y2M3DT4H5M6.5S"));
  EXPECT_FALSE(is_iso8601_duration("P"));
  EXPECT_FALSE(is_iso8601_duration("PT"));
  EXPECT_FALSE(is_iso8601_duration("P5H"));
}

}  // namespace
}  // namespace doppel::model
