// transport/result_audit: which finished records run again when storage lost their results.
#include "transport/result_audit.hpp"

#include <doctest/doctest.h>

using namespace pqrt::transport;

namespace {

result_audit audit() {
  return result_audit{{{"r/results/a", 100}, {"r/results/b", 50}, {"r/results/old", 7}},
                      {{"r/results/a", 100}, {"r/results/b", 60}, {"r/results/c", 10}}};
}

}  // namespace

TEST_CASE("a blob is good when listed with the size it was written with") {
  auto a = audit();
  CHECK(a.check("r/results/a") == result_fault::none);
  CHECK(a.check("r/results/b") == result_fault::wrong_size);
  CHECK(a.check("r/results/c") == result_fault::missing);
  CHECK(a.check("r/results/old") == result_fault::none);  // no size recorded: presence only
  CHECK(a.check("") == result_fault::missing);
}

TEST_CASE("records of good blobs leave the audit clean") {
  auto a = audit();
  CHECK_FALSE(a.note(0, "r/results/a"));
  CHECK_FALSE(a.note(1, "r/results/old"));
  CHECK(a.clean());
  CHECK(a.bad_blobs().empty());
}

TEST_CASE("every record of a bad blob runs again, each bad blob named once") {
  auto a = audit();
  CHECK(a.note(0, "r/results/c"));
  CHECK_FALSE(a.note(1, "r/results/a"));
  CHECK(a.note(2, "r/results/c"));
  CHECK(a.note(3, "r/results/b"));
  CHECK_FALSE(a.clean());
  REQUIRE(a.reruns().size() == 3);
  CHECK(a.reruns()[0].index == 0);
  CHECK(a.reruns()[1].index == 2);
  CHECK(a.reruns()[2].index == 3);
  CHECK(a.reruns()[0].blob == a.reruns()[1].blob);
  REQUIRE(a.bad_blobs().size() == 2);
  CHECK(a.count(result_fault::missing) == 1);
  CHECK(a.count(result_fault::wrong_size) == 1);
  CHECK(a.reason(a.reruns()[0].blob) == "result blob missing: r/results/c");
  CHECK(a.reason(a.reruns()[2].blob) == "result blob short: r/results/b (50 of 60 bytes)");
}

TEST_CASE("a blob longer than written has changed") {
  result_audit a{{{"x", 70}}, {{"x", 60}}};
  REQUIRE(a.note(4, "x"));
  CHECK(a.reason(0) == "result blob changed: x (70 bytes, written with 60)");
}

TEST_CASE("an empty listing finds every named blob missing, and nothing else") {
  result_audit a{{}, {{"x", 60}}};
  CHECK(a.clean());  // nothing noted: nothing to run again
  CHECK(a.note(0, "x"));
  CHECK(a.reason(0) == "result blob missing: x");
}
