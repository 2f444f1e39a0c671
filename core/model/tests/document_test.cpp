#include "document.hpp"

#include <gtest/gtest.h>

#include <memory_resource>

namespace doppel::model::detail {
namespace {

TEST(Document, JsonNodesKnowTheirLineAndColumn) {
  std::pmr::monotonic_buffer_resource arena;
  SourceFile f{"a.json", "{\n  \"a\": [1, 2.5, \"x\"],\n  \"b\": {\"c\": true}\n}\n"};
  Diagnostic err;
  ASSERT_TRUE(parse_json(f, arena, err)) << err.message;
  const Node* a = f.root->find("a");
  ASSERT_TRUE(a && a->is_array());
  ASSERT_EQ(a->items.size(), 3u);
  EXPECT_EQ(a->items[0]->type, NodeType::kInteger);
  EXPECT_EQ(a->items[0]->integer, 1);
  EXPECT_EQ(a->items[1]->type, NodeType::kNumber);
  EXPECT_DOUBLE_EQ(a->items[1]->number, 2.5);
  SourceLocation x = f.locate(a->items[2]->offset);
  EXPECT_EQ(x.line, 2u);
  EXPECT_EQ(x.column, 17u);
  const Node* c = f.root->find("b")->find("c");
  SourceLocation cl = f.locate(c->offset);
  EXPECT_EQ(cl.line, 3u);
  EXPECT_EQ(cl.column, 14u);
  EXPECT_EQ(f.locate(f.root->members[1].key_offset).column, 3u);
}

TEST(Document, JsonSyntaxErrorIsLocated) {
  std::pmr::monotonic_buffer_resource arena;
  SourceFile f{"bad.json", "{\n  \"a\": 1,\n  \"b\" 2\n}"};
  Diagnostic err;
  ASSERT_FALSE(parse_json(f, arena, err));
  EXPECT_EQ(err.location.line, 3u);
  EXPECT_EQ(err.location.column, 7u);
  EXPECT_NE(err.message.find("not valid JSON"), std::string::npos);
}

TEST(Document, BomIsSkippedAndColumnsStayRight) {
  std::pmr::monotonic_buffer_resource arena;
  SourceFile f{"bom.json", "\xEF\xBB\xBF{\"a\": 1}"};
  Diagnostic err;
  ASSERT_TRUE(parse_json(f, arena, err));
  EXPECT_EQ(f.locate(f.root->offset).column, 1u);
  EXPECT_EQ(f.locate(f.root->find("a")->offset).column, 7u);
}

TEST(Document, TrailingGarbageIsAnError) {
  std::pmr::monotonic_buffer_resource arena;
  SourceFile f{"t.json", "{} x"};
  Diagnostic err;
  EXPECT_FALSE(parse_json(f, arena, err));
}

TEST(Document, YamlScalarsResolveLikeJson) {
  std::pmr::monotonic_buffer_resource arena;
  SourceFile f{"a.yaml", "a: 1\nb: 2.5\nc: true\nd: \"1\"\ne: hello\nf: ~\ng:\n  - x\n  - 'y'\n"};
  Diagnostic err;
  ASSERT_TRUE(parse_yaml(f, arena, err)) << err.message;
  EXPECT_EQ(f.root->find("a")->type, NodeType::kInteger);
  EXPECT_EQ(f.root->find("b")->type, NodeType::kNumber);
  EXPECT_EQ(f.root->find("c")->type, NodeType::kBool);
  EXPECT_EQ(f.root->find("d")->type, NodeType::kString);
  EXPECT_EQ(f.root->find("e")->text, "hello");
  EXPECT_EQ(f.root->find("f")->type, NodeType::kNull);
  const Node* g = f.root->find("g");
  ASSERT_EQ(g->items.size(), 2u);
  SourceLocation l = f.locate(g->items[1]->offset);
  EXPECT_EQ(l.line, 9u);
  EXPECT_EQ(l.column, 5u);
}

TEST(Document, YamlSyntaxErrorIsLocated) {
  std::pmr::monotonic_buffer_resource arena;
  SourceFile f{"bad.yaml", "a: 1\nb: [1, 2\n"};
  Diagnostic err;
  ASSERT_FALSE(parse_yaml(f, arena, err));
  EXPECT_GE(err.location.line, 2u);
}

}  // namespace
}  // namespace doppel::model::detail
