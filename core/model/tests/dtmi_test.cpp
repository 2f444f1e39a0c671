#include "doppel/model/dtmi.hpp"

#include <gtest/gtest.h>

namespace doppel::model {
namespace {

TEST(Dtmi, ParsesVersionAndLabels) {
  auto p = parse_dtmi("dtmi:com:example:Thermostat;12");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->labels.size(), 3u);
  EXPECT_EQ(p->labels[2], "Thermostat");
  EXPECT_EQ(p->major_version, 12u);
  EXPECT_EQ(p->minor_version, 0u);
  EXPECT_FALSE(p->reserved);
}

TEST(Dtmi, TwoPartVersionAndFragment) {
  auto p = parse_dtmi("dtmi:foo:bar;1.34#myFrag");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->major_version, 1u);
  EXPECT_EQ(p->minor_version, 34u);
  EXPECT_EQ(p->fragment, "#myFrag");
  EXPECT_EQ(versionless_dtmi("dtmi:foo:bar;1.34#myFrag"), "dtmi:foo:bar#myFrag");
}

TEST(Dtmi, NoVersionIsValid) {
  auto p = parse_dtmi("dtmi:foo:bar");
  ASSERT_TRUE(p);
  EXPECT_FALSE(p->has_version);
}

TEST(Dtmi, SystemSegmentsAreReserved) {
  EXPECT_TRUE(parse_dtmi("dtmi:test:_system;1")->reserved);
  EXPECT_TRUE(parse_dtmi("dtmi:foo:bar;1#_frag")->reserved);
}

TEST(Dtmi, RejectsBadSyntax) {
  for (const char* bad :
       {"dtmi:;1", "http://foo/bar", "urn:foo:bar:1", "dtmi:foo::bar;1", "dtmi:foo:bar.baz;1",
        "dtmi:test:1seg;1", "dtmi:test:bad_;1", "dtmi:foo:bar;", "dtmi:foo:bar;01",
        "dtmi:foo:bar;0.1", "dtmi:foo:bar;6.02", "dtmi:foo:bar;3.1415926", "dtmi:foo:bar;3.0",
        "dtmi:foo:bar;1a", "dtmi:foo:bar;1234567890", "dtmi:foo:bar;0", "dtmi:foo;1#bar.baz",
        "dtmi:foo:bar;1#1seg", "dtmi:foo:bar;1#bad_"}) {
    EXPECT_FALSE(parse_dtmi(bad)) << bad;
  }
}

TEST(Dtmi, VersionLimits) {
  EXPECT_TRUE(parse_dtmi("dtmi:foo:bar;999999999"));
  EXPECT_TRUE(parse_dtmi("dtmi:foo:bar;3.141592"));
  EXPECT_TRUE(parse_dtmi("dtmi:foo:bar;1#"));
}

}  // namespace
}  // namespace doppel::model
