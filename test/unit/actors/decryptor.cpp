// actors/decryptor: the data key fetched (through its blob_fetcher peer) and unwrapped once, the
// script decrypted into a sealed memfd, requests during a load answered by that load, a failed
// load not cached, a tampered script refused; on CAF's deterministic scheduler.
#include "actors/decryptor.hpp"

#include <unistd.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/protocol.hpp"
#include "crypto/file_cipher.hpp"
#include "crypto/key_wrap.hpp"
#include "crypto/record_cipher.hpp"
#include "fakes.hpp"
#include "runtime/base/error.hpp"

#include "caf_doctest.hpp"

namespace {

using pqrt::crypto::secure_buffer;
using pqrt::test::fixed_key_source;

struct blobs {
  std::map<std::string, std::string> by_name;
  int fetches = 0;
};

/// A blob_fetcher serving `b` (not_found for anything else).
caf::behavior fake_fetcher(caf::event_based_actor*, std::shared_ptr<blobs> b) {
  return {[=](pqrt::fetch_atom, const std::string&,
              const std::string& name) -> caf::result<std::string> {
    ++b->fetches;
    auto it = b->by_name.find(name);
    if (it == b->by_name.end()) return pqrt::make_error(pqrt::errc::not_found, name);
    return it->second;
  }};
}

std::string read_fd(int fd) {
  std::string out(4096, '\0');
  auto n = ::pread(fd, out.data(), out.size(), 0);
  out.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return out;
}

struct fixture : test_coordinator_fixture<> {
  pqrt::crypto::shared_secret key;
  std::shared_ptr<int> unwraps = std::make_shared<int>(0);
  std::shared_ptr<blobs> store = std::make_shared<blobs>();
  caf::actor decryptor, fetcher;

  fixture() {
    key = pqrt::test::fresh_data_key();
    store->by_name["key.json"] = pqrt::test::wrapped_key_file(key);
    store->by_name["script.enc"] = seal_script("print('hi')\n");
    auto ps = std::make_shared<pqrt::pipeline_settings>();
    ps->inputs_container = "inputs";
    ps->key_blob = "key.json";
    ps->script_blob = "script.enc";
    ps->make_key_source =
        [k = key, u = unwraps]() -> caf::expected<std::unique_ptr<pqrt::crypto::key_source>> {
      return std::make_unique<fixed_key_source>(k, u);
    };
    decryptor = pqrt::spawn_decryptor(sys, ps, pqrt::spawn_mode::scheduled);
    fetcher = sys.spawn(fake_fetcher, store);
    self->send(decryptor, pqrt::wire_atom::value, std::string{"blob_fetcher"}, fetcher);
    sched.run();
  }

  ~fixture() {
    for (const auto& a : {decryptor, fetcher})
      caf::anon_send_exit(a, caf::exit_reason::kill);
    sched.run();
  }

  std::string seal_script(const std::string& text) {
    auto enc = pqrt::crypto::file_encryptor::make(key, "script");
    REQUIRE(enc);
    std::string out;
    REQUIRE_FALSE(enc->update(reinterpret_cast<const uint8_t*>(text.data()), text.size(), out));
    REQUIRE_FALSE(enc->finish(out));
    return out;
  }

  /// `n` requests sent together; their answers once the scheduler is idle.
  std::vector<caf::expected<pqrt::run_material>> ask(bool need_script, int n = 1) {
    auto out = std::make_shared<std::vector<caf::expected<pqrt::run_material>>>();
    for (int i = 0; i < n; ++i)
      sys.spawn([=](caf::event_based_actor* a) {
        a->request(decryptor, caf::infinite, pqrt::material_atom::value, need_script)
            .then([=](pqrt::run_material& m) { out->emplace_back(std::move(m)); },
                  [=](caf::error& e) { out->emplace_back(std::move(e)); });
      });
    sched.run();
    return *out;
  }
};

}  // namespace

TEST_CASE_FIXTURE(fixture, "the key is unwrapped once for every request, and kept") {
  auto first = ask(false, 3);
  REQUIRE(first.size() == 3);
  for (auto& m : first) {
    REQUIRE(m);
    CHECK(m->key_check == pqrt::crypto::key_check_hex(*key));
    CHECK_FALSE(m->script);
  }
  CHECK(*unwraps == 1);
  CHECK(store->fetches == 1);
  auto later = ask(false);
  REQUIRE(later.front());
  CHECK(store->fetches == 1);  // cached
}

TEST_CASE_FIXTURE(fixture, "the script is decrypted into memory when asked for") {
  auto got = ask(true);
  REQUIRE(got.front());
  REQUIRE(got.front()->script);
  CHECK(read_fd(got.front()->script->fd()) == "print('hi')\n");
  CHECK(store->fetches == 2);  // the key, then the script
}

TEST_CASE_FIXTURE(fixture, "a failed load is an error, not cached: the next request tries again") {
  auto saved = store->by_name["key.json"];
  store->by_name.erase("key.json");
  auto failed = ask(false);
  REQUIRE_FALSE(failed.front());
  CHECK(pqrt::render(failed.front().error()).find("fetching the data key key.json") !=
        std::string::npos);
  store->by_name["key.json"] = saved;
  auto again = ask(false);
  CHECK(again.front());
}

TEST_CASE_FIXTURE(fixture, "a tampered script fails authentication and yields no script") {
  auto& sealed = store->by_name["script.enc"];
  sealed[sealed.size() - 3] ^= 0x01;
  auto got = ask(true);
  REQUIRE_FALSE(got.front());
  CHECK(got.front().error().code() == static_cast<uint8_t>(pqrt::errc::auth_failed));
}
