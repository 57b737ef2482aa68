// azure/responses.hpp: the parsers of Azure's answers, on the documented shapes, and on what the
// fuzz targets (test/fuzz/) found: deep nesting, far-future dates.
#include <string>

#include <doctest/doctest.h>

#include "azure/http.hpp"
#include "azure/responses.hpp"
#include "azure/scheduled_events.hpp"
#include "runtime/base/error.hpp"

using namespace pqrt::azure;
using pqrt::errc;

namespace {

// One megabyte of '[': the recursive RapidJSON parser overflowed an 8 MiB stack on it.
const std::string deep(1000000, '[');

}  // namespace

TEST_CASE("List Blobs: names, sizes and the next marker") {
  auto page = detail::parse_blob_list(
      "<EnumerationResults><Blobs><Blob><Name>a&amp;b</Name><Properties><Content-Length>12"
      "</Content-Length></Properties></Blob><Blob><Properties /></Blob><Blob><Name>c</Name>"
      "</Blob></Blobs><NextMarker>m1</NextMarker></EnumerationResults>");
  REQUIRE(page.blobs.size() == 2);
  CHECK(page.blobs[0].name == "a&b");
  CHECK(page.blobs[0].size == 12);
  CHECK(page.blobs[1].name == "c");
  CHECK(page.blobs[1].size == 0);
  CHECK(page.next_marker == "m1");
  CHECK(detail::parse_blob_list("<EnumerationResults><NextMarker /></EnumerationResults>")
            .next_marker.empty());
}

TEST_CASE("Get Messages: texts decoded, a text that is not base64 named") {
  auto messages = detail::parse_queue_messages(
      "<QueueMessagesList><QueueMessage><MessageId>m</MessageId><PopReceipt>p</PopReceipt>"
      "<DequeueCount>3</DequeueCount><MessageText>aGk=</MessageText></QueueMessage>"
      "</QueueMessagesList>",
      "get messages queue q");
  REQUIRE(messages);
  REQUIRE(messages->size() == 1);
  CHECK((*messages)[0].text == "hi");
  CHECK((*messages)[0].dequeue_count == 3);
  auto bad = detail::parse_queue_messages(
      "<QueueMessage><MessageId>m2</MessageId><MessageText>!</MessageText></QueueMessage>",
      "get messages queue q");
  REQUIRE_FALSE(bad);
  CHECK(pqrt::render(bad.error()).find("get messages queue q: message m2 is not base64") !=
        std::string::npos);
}

TEST_CASE("token answers of Entra ID and IMDS") {
  auto v2 = detail::parse_token_answer("t", R"({"access_token":"abc","expires_in":3599})");
  REQUIRE(v2);
  CHECK(v2->value == "abc");
  CHECK(v2->lifetime.count() == 3599);
  auto imds = detail::parse_token_answer("t", R"({"access_token":"abc","expires_in":"86399"})");
  REQUIRE(imds);
  CHECK(imds->lifetime.count() == 86399);
  CHECK(pqrt::is(detail::parse_token_answer("t", R"({"access_token":""})").error(),
                 errc::bad_format));
}

TEST_CASE("Key Vault answers") {
  CHECK(
      pqrt::is(detail::parse_vault_key("k", R"({"key":{"kty":"EC"}})").error(), errc::unsupported));
  CHECK(
      pqrt::is(detail::parse_vault_key("k", R"({"key":{"kty":"RSA","n":"!!","e":"AQAB"}})").error(),
               errc::bad_format));
  auto key = detail::parse_unwrapped_key("u", R"({"value":"AAEC"})");
  REQUIRE(key);
  CHECK(key->size() == 3);
  auto secret = detail::parse_secret_value("s", R"({"value":"pw"})");
  REQUIRE(secret);
  CHECK(*secret == "pw");
  CHECK(pqrt::is(detail::parse_secret_value("s", R"({"value":1})").error(), errc::bad_format));
}

TEST_CASE("ARM pages and Monitor metrics") {
  auto page = detail::parse_arm_page(
      "list p",
      R"({"value":[{"id":"/i","name":"n","properties":{"osProfile":{"computerName":"c"}}}],)"
      R"("nextLink":"https://management.azure.com/next"})",
      "virtualMachine", "");
  REQUIRE(page);
  REQUIRE(page->items.size() == 1);
  CHECK(page->items[0].computer_name == "c");
  CHECK(page->next_link == "https://management.azure.com/next");
  CHECK(
      pqrt::render(detail::parse_arm_page("list p", R"({"value":[{"id":"/i"}]})", "k", "").error())
          .find("list p: an item without id or name") != std::string::npos);
  auto metrics = detail::parse_metrics_answer(
      "m", R"({"timespan":"a/b","value":[{"name":{"value":"CPU"},"unit":"Percent",)"
           R"("timeseries":[{"data":[{"timeStamp":"t","average":1.5}]}]}]})");
  REQUIRE(metrics);
  REQUIRE(metrics->series.size() == 1);
  CHECK(metrics->series[0].second.points[0].average == 1.5);
  CHECK_FALSE(metrics->series[0].second.points[0].maximum);
}

TEST_CASE("a deeply nested answer is an error, not a stack overflow") {
  CHECK(pqrt::is(detail::parse_token_answer("t", deep).error(), errc::bad_format));
  CHECK(pqrt::is(detail::parse_vault_key("k", deep).error(), errc::bad_format));
  CHECK(pqrt::is(detail::parse_arm_page("p", deep, "k", "").error(), errc::bad_format));
  CHECK(pqrt::is(detail::parse_metrics_answer("m", deep).error(), errc::bad_format));
  CHECK(pqrt::is(parse_scheduled_events(deep).error(), errc::bad_format));
  http_response resp;
  resp.status = 500;
  resp.body = "{\"error\":" + deep;
  CHECK(resp.error_code().empty());
}

TEST_CASE("a NotBefore past what system_clock holds is not a date") {
  // Found by fuzz_scheduled_events: year 4046 overflowed the nanosecond time_point.
  CHECK_FALSE(parse_not_before("13 Nov 4046 22:13:30 GMT"));
  CHECK(parse_not_before("Mon, 13 Nov 2199 22:13:30 GMT"));
}
