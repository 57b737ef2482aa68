// transport/detail/resp: the RESP encoder and the hiredis-backed reply reader.
#include "transport/detail/resp.hpp"

#include "runtime/base/error.hpp"

#include <doctest/doctest.h>

using namespace pqrt::transport;

TEST_CASE("commands are encoded as arrays of binary-safe bulk strings") {
  std::string out;
  detail::append_command(out, {"SET", "k", std::string{"a\0\r\nb", 5}});
  static const char expected[] = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\na\0\r\nb\r\n";
  CHECK(out == std::string{expected, sizeof(expected) - 1});
  detail::append_command(out, {"GET", ""});
  CHECK(out.substr(sizeof(expected) - 1) == "*2\r\n$3\r\nGET\r\n$0\r\n\r\n");
}

TEST_CASE("replies of every kind, fed in any split") {
  static const char raw[] =
      "+OK\r\n-ERR bad\r\n:42\r\n$3\r\na\0b\r\n$-1\r\n*2\r\n:1\r\n*1\r\n$1\r\nx\r\n";
  std::string wire{raw, sizeof(raw) - 1};
  detail::reply_reader reader;
  std::vector<redis_reply> got;
  for (char c : wire) {
    reader.feed(&c, 1);
    for (;;) {
      auto next = reader.next();
      REQUIRE(next);
      if (!*next) break;
      got.push_back(std::move(**next));
    }
  }
  REQUIRE(got.size() == 6);
  CHECK(got[0].is_ok());
  CHECK(got[1].is_error_code("ERR"));
  CHECK_FALSE(got[1].is_error_code("ER"));
  CHECK(got[2] == redis_reply::number(42));
  CHECK(got[3] == redis_reply::string(std::string{"a\0b", 3}));
  CHECK(got[4].is_nil());
  auto nested = redis_reply::array({redis_reply::string("x")});
  CHECK(got[5] == redis_reply::array({redis_reply::number(1), nested}));
  CHECK(to_string(got[5]) == "[:1, [\"x\"]]");
}

TEST_CASE("bytes that are not RESP are a bad_format error") {
  detail::reply_reader reader;
  reader.feed("?what\r\n", 7);
  auto next = reader.next();
  REQUIRE_FALSE(next);
  CHECK(pqrt::is(next.error(), pqrt::errc::bad_format));
}

TEST_CASE("an array header announcing more elements than any reply holds is an error") {
  // hiredis allocates the element pointers at the header: this one alone would take 11 GB.
  detail::reply_reader reader;
  reader.feed("*1420002000\r\n", 13);
  auto next = reader.next();
  REQUIRE_FALSE(next);
  CHECK(pqrt::is(next.error(), pqrt::errc::bad_format));
  CHECK(pqrt::render(next.error()).find("an array reply of 1420002000 elements") !=
        std::string::npos);
  detail::reply_reader fine;
  fine.feed("*2\r\n*0\r\n:7\r\n", 12);
  auto two = fine.next();
  REQUIRE(two);
  REQUIRE(*two);
  CHECK(**two == redis_reply::array({redis_reply::array({}), redis_reply::number(7)}));
}
