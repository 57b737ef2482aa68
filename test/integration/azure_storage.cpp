// azure/: the blob store and the queue consumer against Azurite, with Shared Key and with SAS
// tokens made from the account key: every operation (the queue's takes, deletes and visibility
// updates too), a streamed 300 MiB blob in flat memory, append positions, the local store's
// semantics (not_found, sorted listings) and clear errors.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "azure/blob_client.hpp"
#include "azure/queue_client.hpp"
#include "azure/storage_auth.hpp"
#include "fixtures/azurite.hpp"
#include "fixtures/secrets.hpp"
#include "runtime/base/error.hpp"
#include "runtime/base/memory.hpp"

using namespace pqrt::azure;
using pqrt::errc;
using pqrt::test::azurite;
using transport_blob = pqrt::transport::blob_store;
using transport_queue = pqrt::transport::queue_consumer;

namespace {

azurite& server() {
  static azurite instance;
  return instance;
}

std::string why(const caf::error& err) {
  return err ? pqrt::render(err) : std::string{};
}

azure_storage_options base_options() {
  azure_storage_options opt;
  opt.account = azurite::account;
  opt.blob_endpoint = server().blob_endpoint();
  opt.queue_endpoint = server().queue_endpoint();
  opt.timeout = std::chrono::seconds{30};
  opt.retry.base_delay = std::chrono::milliseconds{50};
  opt.retry.max_delay = std::chrono::milliseconds{500};
  return opt;
}

azure_storage_options key_options() {
  auto opt = base_options();
  opt.account_key = azurite::key;
  pqrt::test::record_secret(azurite::key);
  return opt;
}

sas_parameters sas_window(const std::string& permissions, std::chrono::seconds from_now,
                          std::chrono::seconds until) {
  auto now = std::chrono::system_clock::now();
  sas_parameters p;
  p.permissions = permissions;
  p.start = now + from_now;
  p.expiry = now + until;
  return p;
}

std::string account_sas() {
  auto token =
      make_account_sas(azurite::account, azurite::key, "bq", "sco",
                       sas_window("rwdlacup", std::chrono::minutes{-5}, std::chrono::hours{1}));
  REQUIRE(token);
  pqrt::test::record_sas(*token);
  return *token;
}

std::unique_ptr<transport_blob> blob_store(azure_storage_options opt) {
  auto store = make_azure_blob_store(std::move(opt));
  REQUIRE_MESSAGE(store, why(store.error()));
  return std::move(*store);
}

std::unique_ptr<transport_queue> queue_consumer(azure_storage_options opt) {
  auto store = make_azure_queue_consumer(std::move(opt));
  REQUIRE_MESSAGE(store, why(store.error()));
  return std::move(*store);
}

/// What pqrt itself posts through.
std::unique_ptr<pqrt::transport::queue_store> queue_store(azure_storage_options opt) {
  auto store = make_azure_queue_store(std::move(opt));
  REQUIRE_MESSAGE(store, why(store.error()));
  return std::move(*store);
}

/// Blob stores for `container`: one to create it, one for everything else.
struct blob_pair {
  std::unique_ptr<transport_blob> admin;
  std::unique_ptr<transport_blob> store;
};

blob_pair blob_stores(bool sas, const std::string& container) {
  if (!sas) return {blob_store(key_options()), blob_store(key_options())};
  auto admin = base_options();
  admin.account_sas = account_sas();
  auto opt = base_options();
  auto token =
      make_container_sas(azurite::account, azurite::key, container,
                         sas_window("racwdl", std::chrono::minutes{-5}, std::chrono::hours{1}));
  REQUIRE(token);
  pqrt::test::record_sas(*token);
  opt.sas[container] = "?" + *token;
  return {blob_store(admin), blob_store(opt)};
}

struct queue_pair {
  std::unique_ptr<transport_queue> admin;
  std::unique_ptr<transport_queue> store;
};

queue_pair queue_stores(bool sas, const std::string& queue) {
  if (!sas) return {queue_consumer(key_options()), queue_consumer(key_options())};
  auto admin = base_options();
  admin.account_sas = account_sas();
  auto opt = base_options();
  auto token = make_queue_sas(azurite::account, azurite::key, queue,
                              sas_window("raup", std::chrono::minutes{-5}, std::chrono::hours{1}));
  REQUIRE(token);
  pqrt::test::record_sas(*token);
  opt.sas[queue] = *token;
  return {queue_consumer(admin), queue_consumer(opt)};
}

/// Deterministic content: byte i of a stream.
std::string pattern(uint64_t offset, size_t size) {
  std::string out(size, '\0');
  for (size_t i = 0; i < size; ++i) {
    uint64_t x = offset + i;
    out[i] = static_cast<char>((x * 2654435761u) >> 13 ^ (x >> 20));
  }
  return out;
}

/// The size of the blob `name` in `container` as listed; nullopt when there is none.
std::optional<uint64_t> listed_size(transport_blob& store, const std::string& container,
                                    const std::string& name) {
  auto listed = store.list(container, name);
  REQUIRE_MESSAGE(listed, why(listed.error()));
  for (auto& item : *listed)
    if (item.name == name) return item.size;
  return std::nullopt;
}

std::string read_all(pqrt::transport::blob_reader& reader, size_t piece) {
  std::string out;
  for (;;) {
    auto chunk = reader.read(piece);
    REQUIRE_MESSAGE(chunk, why(chunk.error()));
    if (chunk->empty()) return out;
    out += *chunk;
  }
}

/// Resets VmHWM to the current RSS (Linux: "5" to clear_refs), so a peak is this test's own.
void reset_hwm() {
  std::ofstream{"/proc/self/clear_refs"} << "5";
}

int64_t vm_hwm_kib() {
  std::ifstream in{"/proc/self/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6));
  return -1;
}

void blob_scenario(bool sas) {
  const std::string c = sas ? "sas-blobs" : "key-blobs";
  auto [admin, store] = blob_stores(sas, c);
  CHECK(store->describe().find(server().blob_endpoint()) != std::string::npos);
  REQUIRE_MESSAGE(!admin->create_container(c), "create container");
  CHECK_MESSAGE(!admin->create_container(c), "an existing container is fine");

  // put / get, replace
  REQUIRE_MESSAGE(!store->put(c, "dir one/file ü+x.txt", "hello"), "put");
  auto got = store->get(c, "dir one/file ü+x.txt");
  REQUIRE_MESSAGE(got, why(got.error()));
  CHECK(*got == "hello");
  CHECK(!store->put(c, "dir one/file ü+x.txt", "replaced!"));
  auto replaced = store->get(c, "dir one/file ü+x.txt");
  REQUIRE(replaced);
  CHECK(*replaced == "replaced!");
  CHECK(listed_size(*store, c, "dir one/file ü+x.txt") == std::optional<uint64_t>{9});

  // missing blobs behave like the local store's
  auto missing = store->get(c, "nope");
  REQUIRE(!missing);
  CHECK(pqrt::is(missing.error(), errc::not_found));
  CHECK(why(missing.error()).find(c + "/nope") != std::string::npos);
  CHECK(!listed_size(*store, c, "nope").has_value());
  auto no_reader = store->open_read(c, "nope", 0);
  REQUIRE(!no_reader);
  CHECK(pqrt::is(no_reader.error(), errc::not_found));

  // list: sorted, with a prefix
  for (auto name : {"list/b", "list/a/2", "list/a/1", "list/c", "other"})
    REQUIRE(!store->put(c, name, name));
  auto listed = store->list(c, "list/a");
  REQUIRE_MESSAGE(listed, why(listed.error()));
  REQUIRE(listed->size() == 2);
  CHECK((*listed)[0].name == "list/a/1");
  CHECK((*listed)[0].size == 8);
  CHECK((*listed)[1].name == "list/a/2");
  auto everything = store->list(c, "");
  REQUIRE(everything);
  CHECK(everything->size() == 6);
  CHECK(std::is_sorted(everything->begin(), everything->end(),
                       [](auto& a, auto& b) { return a.name < b.name; }));

  // put over the single-put limit goes in blocks
  auto five = pattern(0, 5 * 1024 * 1024 + 3);
  REQUIRE(!store->put(c, "five", five));
  auto five_back = store->get(c, "five");
  REQUIRE(five_back);
  CHECK(*five_back == five);

  // streamed writer: nothing visible before commit
  {
    auto writer = store->open_write(c, "streamed.bin");
    REQUIRE(writer);
    const size_t total = 9 * 1024 * 1024 + 17;
    for (size_t at = 0; at < total; at += 700 * 1024)
      REQUIRE(!(*writer)->write(pattern(at, std::min<size_t>(700 * 1024, total - at))));
    CHECK(!listed_size(*store, c, "streamed.bin").has_value());
    REQUIRE(!(*writer)->commit());
    CHECK((*writer)->write("x"));
    CHECK(listed_size(*store, c, "streamed.bin") == std::optional<uint64_t>{total});
    auto reader = store->open_read(c, "streamed.bin", 1000);
    REQUIRE(reader);
    CHECK((*reader)->size() == total);
    CHECK(read_all(**reader, 300 * 1024) == pattern(1000, total - 1000));
  }
  {
    auto dropped = store->open_write(c, "dropped.bin");
    REQUIRE(dropped);
    REQUIRE(!(*dropped)->write(pattern(0, 5 * 1024 * 1024)));
  }
  CHECK(!listed_size(*store, c, "dropped.bin").has_value());
  {
    auto empty = store->open_write(c, "empty.bin");
    REQUIRE(empty);
    REQUIRE(!(*empty)->commit());
    auto e = store->get(c, "empty.bin");
    REQUIRE(e);
    CHECK(e->empty());
    auto reader = store->open_read(c, "empty.bin", 0);
    REQUIRE(reader);
    auto chunk = (*reader)->read(10);
    REQUIRE(chunk);
    CHECK(chunk->empty());
  }

  // append blobs: positions, retries, missing
  REQUIRE_MESSAGE(!store->create_append(c, "log.bin"), "create append");
  REQUIRE(!store->append(c, "log.bin", "record-1;", 0));
  CHECK_MESSAGE(!store->create_append(c, "log.bin"), "an existing append blob is kept");
  REQUIRE(!store->append(c, "log.bin", "record-2;", 9));
  auto again = store->append(c, "log.bin", "record-2;", 9);  // a retry whose first try landed
  CHECK(pqrt::is(again, errc::conflict));
  CHECK(why(again).find("log.bin") != std::string::npos);
  CHECK(!store->append(c, "log.bin", "", 18));
  CHECK(pqrt::is(store->append(c, "log.bin", "", 3), errc::conflict));
  auto log = store->get(c, "log.bin");
  REQUIRE(log);
  CHECK(*log == "record-1;record-2;");
  auto no_log = store->append(c, "no-log.bin", "x", 0);
  CHECK(pqrt::is(no_log, errc::not_found));
  CHECK(why(no_log).find(c + "/no-log.bin") != std::string::npos);

  // an unknown container
  auto other = blob_store(key_options());
  CHECK(pqrt::is(other->get("no-such-container", "x").error(), errc::not_found));
  CHECK(pqrt::is(other->list("no-such-container", "").error(), errc::not_found));
  auto put_missing = other->put("no-such-container", "x", "y");
  CHECK(pqrt::is(put_missing, errc::not_found));
  CHECK(why(put_missing).find("no-such-container") != std::string::npos);
}

void queue_scenario(bool sas) {
  const std::string q = sas ? "sas-jobs" : "key-jobs";
  auto [admin, store] = queue_stores(sas, q);
  REQUIRE_MESSAGE(!admin->create_queue(q), "create queue");
  CHECK(!admin->create_queue(q));
  auto count = store->approximate_count(q);
  REQUIRE_MESSAGE(count, why(count.error()));
  CHECK(*count == 0);

  const std::string tricky = "m2 <&> \"ü\" \n\0 end";
  REQUIRE(!store->put(q, "m1"));
  REQUIRE(!store->put(q, std::string{tricky.data(), tricky.size() + 0}));
  const std::string big(max_queue_text_bytes, 'b');
  REQUIRE(!store->put(q, big));
  count = store->approximate_count(q);
  REQUIRE(count);
  CHECK(*count == 3);

  auto peeked = store->peek(q, 32);
  REQUIRE_MESSAGE(peeked, why(peeked.error()));
  REQUIRE(peeked->size() == 3);
  CHECK((*peeked)[0].text == "m1");
  CHECK((*peeked)[1].text == tricky);
  CHECK((*peeked)[2].text == big);

  auto taken = store->get(q, 1, 30);
  REQUIRE_MESSAGE(taken, why(taken.error()));
  REQUIRE(taken->size() == 1);
  auto first = (*taken)[0];
  CHECK(first.text == "m1");
  CHECK(first.dequeue_count == 1);
  CHECK(!first.id.empty());
  CHECK(!first.pop_receipt.empty());
  REQUIRE(!store->remove(q, first));
  CHECK(pqrt::is(store->remove(q, first), errc::not_found));

  // a stale pop receipt
  auto short_take = store->get(q, 1, 1);
  REQUIRE(short_take);
  REQUIRE(short_take->size() == 1);
  std::this_thread::sleep_for(std::chrono::milliseconds{1500});
  auto retake = store->get(q, 32, 30);
  REQUIRE(retake);
  REQUIRE(retake->size() == 2);
  // Azure queues are not strictly FIFO: find the message taken twice.
  auto twice = std::find_if(retake->begin(), retake->end(),
                            [&](auto& m) { return m.id == (*short_take)[0].id; });
  REQUIRE(twice != retake->end());
  CHECK(twice->dequeue_count == 2);
  CHECK(twice->pop_receipt != (*short_take)[0].pop_receipt);
  CHECK(pqrt::is(store->remove(q, (*short_take)[0]), errc::conflict));
  for (auto& msg : *retake)
    REQUIRE(!store->remove(q, msg));
  auto empty = store->get(q, 32, 30);
  REQUIRE(empty);
  CHECK(empty->empty());

  // update visibility: a taken message shown again at once, then hidden again
  REQUIRE(!store->put(q, "again"));
  auto held = store->get(q, 1, 30);
  REQUIRE(held);
  REQUIRE(held->size() == 1);
  auto msg = (*held)[0];
  auto old_receipt = msg.pop_receipt;
  REQUIRE_MESSAGE(!store->update_visibility(q, msg, 0), "update visibility");
  CHECK(msg.pop_receipt != old_receipt);
  auto visible = store->peek(q, 32);
  REQUIRE(visible);
  REQUIRE(visible->size() == 1);
  CHECK((*visible)[0].text == "again");
  auto stale = msg;
  stale.pop_receipt = old_receipt;
  CHECK(pqrt::is(store->update_visibility(q, stale, 30), errc::conflict));
  CHECK(pqrt::is(store->update_visibility(q, msg, -1), errc::invalid_argument));
  REQUIRE(!store->update_visibility(q, msg, 30));
  auto hidden = store->get(q, 32, 30);
  REQUIRE(hidden);
  CHECK(hidden->empty());
  REQUIRE(!store->remove(q, msg));

  // limits, checked before sending
  auto too_large = store->put(q, std::string(transport_queue::max_message_bytes + 1, 'x'));
  CHECK(pqrt::is(too_large, errc::too_large));
  CHECK(pqrt::is(store->put(q, std::string(max_queue_text_bytes + 1, 'x')), errc::too_large));
  count = store->approximate_count(q);
  REQUIRE(count);
  CHECK(*count == 0);
  CHECK(pqrt::is(store->get(q, 33, 30).error(), errc::invalid_argument));
  CHECK(pqrt::is(store->peek(q, 0).error(), errc::invalid_argument));

  // pqrt's own queue_store (make_azure_queue_store): posting and peeking
  auto poster = queue_store(key_options());
  CHECK(poster->describe() == store->describe());
  REQUIRE(!poster->put(q, "posted"));
  auto posted = poster->peek(q, 32);
  REQUIRE_MESSAGE(posted, why(posted.error()));
  REQUIRE(posted->size() == 1);
  CHECK((*posted)[0].text == "posted");
  CHECK((*posted)[0].dequeue_count == 0);
  auto drained = store->get(q, 32, 30);
  REQUIRE(drained);
  REQUIRE(drained->size() == 1);
  REQUIRE(!store->remove(q, (*drained)[0]));

  auto put_missing = poster->put("no-such-queue", "x");
  CHECK(pqrt::is(put_missing, errc::not_found));
  CHECK(why(put_missing).find("no-such-queue") != std::string::npos);
  CHECK(pqrt::is(poster->peek("no-such-queue", 1).error(), errc::not_found));
  auto unknown = queue_consumer(key_options());
  CHECK(pqrt::is(unknown->approximate_count("no-such-queue").error(), errc::not_found));
}

}  // namespace

TEST_CASE("azure blob store with Shared Key") {
  blob_scenario(false);
}

TEST_CASE("azure blob store with SAS tokens") {
  blob_scenario(true);
}

TEST_CASE("azure queue store with Shared Key") {
  queue_scenario(false);
}

TEST_CASE("azure queue store with SAS tokens") {
  queue_scenario(true);
}

TEST_CASE("a 300 MiB blob goes up and down in pieces in flat memory") {
  pqrt::tune_allocator();  // as pqrt's main does
  auto store = blob_store(key_options());
  const std::string c = "big";
  REQUIRE(!store->create_container(c));
  const uint64_t total = 300ull * 1024 * 1024;
  const size_t piece = 1024 * 1024;
  reset_hwm();
  auto hwm_before = vm_hwm_kib();
  {
    auto writer = store->open_write(c, "big.bin");
    REQUIRE(writer);
    for (uint64_t at = 0; at < total; at += piece)
      REQUIRE(!(*writer)->write(pattern(at, piece)));
    REQUIRE(!(*writer)->commit());
  }
  CHECK(listed_size(*store, c, "big.bin") == std::optional<uint64_t>{total});
  {
    auto reader = store->open_read(c, "big.bin", 0);
    REQUIRE(reader);
    uint64_t at = 0;
    bool same = true;
    for (;;) {
      auto chunk = (*reader)->read(piece);
      REQUIRE(chunk);
      if (chunk->empty()) break;
      same = same && *chunk == pattern(at, chunk->size());
      at += chunk->size();
    }
    CHECK(same);
    CHECK(at == total);
  }
  auto growth_mib = (vm_hwm_kib() - hwm_before) / 1024;
  MESSAGE("VmHWM growth: " << growth_mib << " MiB for a 300 MiB blob");
  // Flat: a few 4 MiB blocks and ranges in flight, not the blob. AddressSanitizer adds its
  // shadow memory and a 16 MiB quarantine (test/run.sh), hence its looser bound.
#if defined(__SANITIZE_ADDRESS__)
  CHECK(growth_mib < 120);
#else
  CHECK(growth_mib < 40);
#endif
}

TEST_CASE("wrong account key: a clear error without the key") {
  auto opt = key_options();
  const std::string wrong = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmcta2V5LXdyb25nLWtleQ==";
  opt.account_key = wrong;
  auto store = blob_store(opt);
  auto err = store->create_container("denied");
  REQUIRE(err);
  auto text = why(err);
  MESSAGE(text);
  CHECK(text.find("create container") != std::string::npos);
  CHECK(text.find("denied") != std::string::npos);
  CHECK(text.find("403") != std::string::npos);
  // Azure says AuthenticationFailed, Azurite AuthorizationFailure
  CHECK((text.find("AuthenticationFailed") != std::string::npos ||
         text.find("AuthorizationFailure") != std::string::npos));
  CHECK(text.find(wrong) == std::string::npos);
  CHECK(text.find(azurite::key) == std::string::npos);
  CHECK(text.find("SharedKey") == std::string::npos);

  auto queues = queue_store(opt);
  auto qerr = queues->create_queue("denied");
  REQUIRE(qerr);
  CHECK(why(qerr).find("403") != std::string::npos);
}

TEST_CASE("an expired SAS: a clear 403 without the signature") {
  auto admin = blob_store(key_options());
  REQUIRE(!admin->create_container("expired"));
  REQUIRE(!admin->put("expired", "x", "data"));
  auto token =
      make_container_sas(azurite::account, azurite::key, "expired",
                         sas_window("racwdl", std::chrono::hours{-2}, std::chrono::hours{-1}));
  REQUIRE(token);
  auto opt = base_options();
  opt.sas["expired"] = *token;
  auto store = blob_store(opt);
  auto got = store->get("expired", "x");
  REQUIRE(!got);
  auto text = why(got.error());
  MESSAGE(text);
  CHECK(text.find("get blob") != std::string::npos);
  CHECK(text.find("expired/x") != std::string::npos);
  CHECK(text.find("403") != std::string::npos);
  CHECK(text.find("sig=") == std::string::npos);
}

TEST_CASE("an unreachable endpoint: retried, then unavailable naming the operation") {
  auto opt = key_options();
  opt.blob_endpoint = "http://127.0.0.1:1/devstoreaccount1";
  opt.retry.max_attempts = 3;
  opt.retry.base_delay = std::chrono::milliseconds{10};
  auto store = blob_store(opt);
  auto start = std::chrono::steady_clock::now();
  auto err = store->put("c-unreachable", "x", "y");
  REQUIRE(err);
  CHECK(pqrt::is(err, errc::unavailable));
  auto text = why(err);
  MESSAGE(text);
  CHECK(text.find("put blob") != std::string::npos);
  CHECK(text.find("c-unreachable/x") != std::string::npos);
  CHECK(text.find("3 attempt") != std::string::npos);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds{20});
}

TEST_CASE("bad options are config errors") {
  azure_storage_options opt;
  CHECK(pqrt::is(make_azure_blob_store(opt).error(), errc::config_invalid));
  opt.account = "acct";
  CHECK(pqrt::is(make_azure_blob_store(opt).error(), errc::config_invalid));
  opt.account_key = "not base64!";
  CHECK(pqrt::is(make_azure_blob_store(opt).error(), errc::bad_format));
}
