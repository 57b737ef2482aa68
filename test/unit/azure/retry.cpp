// azure/http + azure/storage_auth, pure parts: which statuses retry, Retry-After parsing, backoff
// bounds (full jitter), URL encoding, and the Shared Key StringToSign against the literals
// verified with Azurite (docs: /work/shared/reference/azure-rest.md 1.5).
#include <chrono>

#include <doctest/doctest.h>

#include "azure/encoding.hpp"
#include "azure/http.hpp"
#include "azure/storage_auth.hpp"
#include "azure/token.hpp"
#include "runtime/base/error.hpp"

using namespace pqrt::azure;
using std::chrono::milliseconds;

TEST_CASE("retryable statuses") {
  for (int status : {408, 429, 500, 502, 503, 504})
    CHECK(is_retryable_status(status));
  for (int status : {200, 201, 204, 304, 400, 401, 403, 404, 409, 412, 413, 416, 501, 505})
    CHECK(!is_retryable_status(status));
}

TEST_CASE("Retry-After parsing") {
  CHECK(parse_retry_after("5") == milliseconds{5000});
  CHECK(parse_retry_after(" 2 ") == milliseconds{2000});
  CHECK(parse_retry_after("0") == milliseconds{0});
  CHECK(!parse_retry_after(""));
  CHECK(!parse_retry_after("-1"));
  CHECK(!parse_retry_after("1.5"));
  CHECK(!parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"));
  CHECK(!parse_retry_after("99999999999"));
  CHECK(parse_retry_after_ms("250") == milliseconds{250});
  CHECK(!parse_retry_after_ms("x"));
}

TEST_CASE("exponential backoff with full jitter stays within its bounds") {
  retry_policy p;
  p.base_delay = milliseconds{800};
  p.max_delay = milliseconds{60'000};
  CHECK(backoff_cap(p, 0) == milliseconds{800});
  CHECK(backoff_cap(p, 1) == milliseconds{1600});
  CHECK(backoff_cap(p, 3) == milliseconds{6400});
  CHECK(backoff_cap(p, 7) == milliseconds{60'000});
  CHECK(backoff_cap(p, 1000) == milliseconds{60'000});
  for (int retry = 0; retry < 12; ++retry) {
    CHECK(backoff_delay(p, retry, 0.0) == milliseconds{0});
    CHECK(backoff_delay(p, retry, 0.5) <= backoff_cap(p, retry));
    CHECK(backoff_delay(p, retry, 0.999999) <= backoff_cap(p, retry));
    CHECK(backoff_delay(p, retry, 7.0) == backoff_cap(p, retry));  // clamped
  }
  CHECK(backoff_delay(p, 1, 0.5) == milliseconds{800});
}

TEST_CASE("URL encoding") {
  CHECK(url_encode("a b/c+d=") == "a%20b%2Fc%2Bd%3D");
  CHECK(url_encode("dir one/file ü+x.txt", true) == "dir%20one/file%20%C3%BC%2Bx.txt");
  CHECK(url_decode("a%20b%2Fc%2Bd%3D") == "a b/c+d=");
  CHECK(url_decode("a+b", true) == "a b");
}

TEST_CASE("base64 and XML helpers") {
  CHECK(base64_encode("00000000") == "MDAwMDAwMDA=");
  CHECK(base64_decode("MDAwMDAwMDA=") == std::optional<std::string>{"00000000"});
  CHECK(base64_decode("") == std::optional<std::string>{""});
  CHECK(!base64_decode("abc"));
  CHECK(xml_text("<a><Name>x &amp; y</Name><NextMarker/></a>", "Name") ==
        std::optional<std::string>{"x & y"});
  CHECK(xml_text("<a><NextMarker/></a>", "NextMarker") == std::optional<std::string>{""});
  CHECK(
      xml_elements("<Blobs><Blob>1</Blob><BlobPrefix>p</BlobPrefix><Blob>2</Blob></Blobs>", "Blob")
          .size() == 2);
}

TEST_CASE("Shared Key StringToSign matches the literals verified against Azurite") {
  const std::string d = "Mon, 23 Nov 2026 20:57:58 GMT";
  auto base = [&](std::string method, std::string path) {
    http_request r;
    r.method = std::move(method);
    r.path = std::move(path);
    r.set_header("x-ms-date", d);
    r.set_header("x-ms-version", "2021-08-06");
    return r;
  };
  const std::string tail = "x-ms-date:" + d + "\nx-ms-version:2021-08-06\n";
  {
    auto r = base("PUT", "/devstoreaccount1/testc");
    r.query = {{"restype", "container"}};
    r.set_header("Content-Length", "0");
    CHECK(shared_key_string_to_sign(r, "devstoreaccount1") ==
          "PUT\n\n\n\n\n\n\n\n\n\n\n\n" + tail +
              "/devstoreaccount1/devstoreaccount1/testc\nrestype:container");
  }
  {
    auto r = base("PUT", "/devstoreaccount1/testc/log.bin");
    r.query = {{"comp", "appendblock"}};
    r.set_header("Content-Length", "9");
    r.set_header("x-ms-blob-condition-appendpos", "9");
    CHECK(shared_key_string_to_sign(r, "devstoreaccount1") ==
          "PUT\n\n\n9\n\n\n\n\n\n\n\n\nx-ms-blob-condition-appendpos:9\n" + tail +
              "/devstoreaccount1/devstoreaccount1/testc/log.bin\ncomp:appendblock");
  }
  {
    auto r = base("GET", "/devstoreaccount1/testc");
    r.query = {
        {"restype", "container"}, {"comp", "list"}, {"prefix", "dir/"}, {"MaxResults", "10"}};
    CHECK(shared_key_string_to_sign(r, "devstoreaccount1") ==
          "GET\n\n\n\n\n\n\n\n\n\n\n\n" + tail +
              "/devstoreaccount1/devstoreaccount1/testc\ncomp:list\nmaxresults:10\nprefix:dir/"
              "\nrestype:container");
  }
  {
    auto r = base("PUT", "/devstoreaccount1/testc/dir/block1.txt");
    r.set_header("Content-Length", "12");
    r.set_header("Content-Type", "text/plain");
    r.set_header("If-None-Match", "*");
    r.set_header("x-ms-blob-type", "BlockBlob");
    CHECK(shared_key_string_to_sign(r, "devstoreaccount1") ==
          "PUT\n\n\n12\n\ntext/plain\n\n\n\n*\n\n\nx-ms-blob-type:BlockBlob\n" + tail +
              "/devstoreaccount1/devstoreaccount1/testc/dir/block1.txt");
  }
}

TEST_CASE("a SAS signer appends the token, with or without '?'") {
  for (const char* token :
       {"?sv=2021-08-06&sr=c&sig=a%2Bb%3D", "sv=2021-08-06&sr=c&sig=a%2Bb%3D"}) {
    auto sign = make_sas_signer(token);
    http_request r;
    r.method = "GET";
    r.path = "/acct/c/b";
    r.query = {{"comp", "list"}};
    REQUIRE(!sign(r));
    REQUIRE(r.query.size() == 4);
    CHECK(r.query[3].first == "sig");
    CHECK(r.query[3].second == "a+b=");  // decoded; encoded again on the wire
    CHECK(r.header("Authorization").empty());
  }
}

TEST_CASE("base64url without padding, as JWKs and Key Vault values carry it") {
  CHECK(pqrt::azure::base64url_encode(std::string{"\xfb\xff\x01", 3}) == "-_8B");
  CHECK(pqrt::azure::base64url_encode("ab") == "YWI");
  CHECK(pqrt::azure::base64url_decode("YWI") == std::string{"ab"});
  CHECK(pqrt::azure::base64url_decode("YWI=") == std::string{"ab"});
  CHECK(pqrt::azure::base64url_decode("-_8B") == std::string{"\xfb\xff\x01", 3});
  CHECK_FALSE(pqrt::azure::base64url_decode("+/8B"));   // standard alphabet is not base64url
  CHECK_FALSE(pqrt::azure::base64url_decode("YWIxY"));  // a length of 4n+1 is never valid
  // AQAB is 65537, the usual RSA exponent.
  CHECK(pqrt::azure::base64url_decode("AQAB") == std::string{"\x01\x00\x01", 3});
}

TEST_CASE("error code and message from JSON bodies: Key Vault, ARM and Entra ID") {
  pqrt::azure::http_response kv;
  kv.status = 403;
  kv.body = R"({"error":{"code":"Forbidden","message":"no keys get permission\nsecond line",)"
            R"("innererror":{"code":"ForbiddenByPolicy"}}})";
  CHECK(kv.error_code() == "Forbidden/ForbiddenByPolicy");
  CHECK(kv.error_message() == "no keys get permission");
  auto err = pqrt::azure::response_error("get key", "https://v/keys/K", kv);
  CHECK(err.code() == static_cast<uint8_t>(pqrt::errc::denied));
  pqrt::azure::http_response entra;
  entra.status = 401;
  entra.body = R"({"error":"invalid_client","error_description":"AADSTS7000215: Invalid client )"
               R"(secret provided.","error_codes":[7000215]})";
  CHECK(entra.error_code() == "invalid_client");
  CHECK(entra.error_message() == "AADSTS7000215: Invalid client secret provided.");
  pqrt::azure::http_response xml;
  xml.body =
      "<?xml version=\"1.0\"?><Error><Code>ContainerNotFound</Code><Message>gone</Message>"
      "</Error>";
  CHECK(xml.error_code() == "ContainerNotFound");
  pqrt::azure::http_response junk;
  junk.body = "{not json";
  CHECK(junk.error_code().empty());
  CHECK(junk.error_message().empty());
}

TEST_CASE("URLs cut for the client: base, path, query") {
  auto p = pqrt::azure::split_url("https://v.vault.azure.net/keys/K/1?api-version=7.4");
  REQUIRE(p);
  CHECK(p->base == "https://v.vault.azure.net");
  CHECK(p->path == "/keys/K/1");
  CHECK(p->query == "api-version=7.4");
  auto q = pqrt::azure::split_url("http://127.0.0.1:8080");
  REQUIRE(q);
  CHECK(q->base == "http://127.0.0.1:8080");
  CHECK(q->path.empty());
  CHECK_FALSE(pqrt::azure::split_url("ftp://host/x"));
  CHECK_FALSE(pqrt::azure::split_url("https://"));
  CHECK_FALSE(pqrt::azure::split_url("https://user@host/x"));
  CHECK_FALSE(pqrt::azure::split_url("https://host/x#frag"));
}

TEST_CASE("tokens are fetched again 5 minutes before expiry, or at half life when shorter") {
  using std::chrono::seconds;
  CHECK(pqrt::azure::refresh_after(seconds{3599}) == seconds{3299});
  CHECK(pqrt::azure::refresh_after(seconds{600}) == seconds{300});
  CHECK(pqrt::azure::refresh_after(seconds{60}) == seconds{30});
  CHECK(pqrt::azure::refresh_after(seconds{1}) == seconds{1});
}
